#!/usr/bin/env bash
# Render every HTML report in headless Chromium and check that
#   * the DOM Chromium builds holds the inline SVG charts (svg + bars/points),
#   * Chromium logs no console error and no refused resource (the pages
#     carry a strict Content-Security-Policy and must need nothing outside),
#   * a screenshot of each page is not blank (many distinct colours, and
#     dark pixels spread down the page).
#
# Installs nothing. Needs /usr/bin/chromium (CI: `apt-get install -y chromium`)
# or $CHROMIUM; without it the script says SKIP and exits 0, unless
# REQUIRE_BROWSER=1 (then exit 1). Uses $TRIALINK if set, else builds the
# debug binary with cargo. Exit 0 pass, 1 fail.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "browser.sh: SKIP: $chromium not found (apt-get install -y chromium)"
    [ "${REQUIRE_BROWSER:-0}" = 1 ] && exit 1
    exit 0
fi
if [ -z "${TRIALINK:-}" ]; then
    (cd "$root" && cargo build -q -p trialink-cli)
    TRIALINK="$root/target/debug/trialink"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the large fixture: few cells suppressed, so every chart has bars and points
"$TRIALINK" report --input "$root/fixtures/disclosure/report_input_large.json" --out "$work/r" --format html >/dev/null
# the service evaluation (report --service reads a store; the same tables from JSON)
cat >"$work/service.json" <<'JSON'
{"study": "service", "as_of": "2026-11-22", "service": {
  "studies": [
    {"study": "alpha", "requested": 1200, "invited": 1200, "delivered": 1160, "responded": 160, "enrolled": 90, "days_to_target": 0},
    {"study": "beta", "requested": 900, "invited": 820, "delivered": 800, "responded": 110, "enrolled": 60},
    {"study": "gamma", "requested": 600, "invited": 600, "delivered": 585, "responded": 70, "enrolled": 41, "days_to_target": 14}],
  "frequency": [
    {"invitations": 1, "people": 2100}, {"invitations": 2, "people": 180},
    {"invitations": 3, "people": 40}, {"invitations": 4, "people": 10}],
  "exclusions": [
    {"reason": "deceased", "count": 310}, {"reason": "national data opt out", "count": 950},
    {"reason": "non contact list", "count": 120}, {"reason": "frequency cap", "count": 75}]}}
JSON
"$TRIALINK" report --input "$work/service.json" --out "$work/r/svc" --format html >/dev/null
cp "$work/r/svc/service.html" "$work/r/service.html"
# recruitment over time (report --store builds it from the store's dated events)
cat >"$work/recruitment.json" <<'JSON'
{"study": "weekly", "as_of": "2026-12-26", "recruitment": {
  "target_invitations": 3000, "target_outcome_count": 150, "target_outcome": "enrolled",
  "weeks": [
    {"week": "2026-11-21", "invited": 1500, "reminded": 0, "responded": 120, "enrolled": 0},
    {"week": "2026-11-28", "invited": 1500, "reminded": 900, "responded": 260, "enrolled": 40},
    {"week": "2026-12-05", "invited": 0, "reminded": 700, "responded": 180, "enrolled": 75},
    {"week": "2026-12-12", "invited": 0, "reminded": 0, "responded": 60, "enrolled": 55}]}}
JSON
"$TRIALINK" report --input "$work/recruitment.json" --out "$work/r/rec" --format html >/dev/null
cp "$work/r/rec/recruitment.html" "$work/r/recruitment.html"

flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-extensions --disable-sync --no-first-run --hide-scrollbars
       --user-data-dir="$work/profile")
fail=0
# negative control: a page with a script error must be caught, or the
# console check below proves nothing
printf '<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>' >"$work/control.html"
"$chromium" "${flags[@]}" --enable-logging=stderr --v=0 --screenshot="$work/control.png" \
    "file://$work/control.html" >"$work/control.log" 2>&1 || true
if ! grep -q 'Uncaught' "$work/control.log"; then
    echo "FAIL: Chromium's console output is not captured (control page error not seen)"
    fail=1
fi
for page in selection uptake swat returns service recruitment; do
    html="$work/r/$page.html"
    url="file://$html"
    # 1. the DOM: charts present
    "$chromium" "${flags[@]}" --dump-dom "$url" >"$work/$page.dom" 2>"$work/$page.dom.log" || true
    svgs=$( (grep -o '<svg' "$work/$page.dom" || true) | wc -l)
    marks=$( (grep -oE '<(rect|circle) ' "$work/$page.dom" || true) | wc -l)
    if [ "$svgs" -lt 1 ] || [ "$marks" -lt 2 ]; then
        echo "FAIL $page: $svgs svg element(s), $marks bar/point element(s) in the DOM"
        fail=1
    fi
    # 2. console errors and refused resources
    "$chromium" "${flags[@]}" --enable-logging=stderr --v=0 --window-size=1100,1600 \
        --screenshot="$work/$page.png" "$url" >"$work/$page.log" 2>&1 || true
    if grep -E 'CONSOLE|Uncaught|Refused to|Failed to load' "$work/$page.log" "$work/$page.dom.log" \
        | grep -viE 'dbus|gpu|vaapi|sandbox|crashpad|fontconfig' >"$work/$page.errors"; then
        echo "FAIL $page: console errors:"
        sed 's/^/    /' "$work/$page.errors"
        fail=1
    fi
    # 3. the screenshot is not blank
    if [ ! -s "$work/$page.png" ]; then
        echo "FAIL $page: no screenshot"
        fail=1
        continue
    fi
    if ! python3 - "$work/$page.png" "$page" <<'PY'
import struct, sys, zlib
path, page = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), "unexpected PNG format"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, dark_rows = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    dark = 0
    for x in range(0, stride, bpp * 4):
        px = tuple(line[x:x + 3])
        colours.add(px)
        if sum(px) < 300:
            dark += 1
    if dark:
        dark_rows += 1
ok = len(colours) >= 8 and dark_rows >= h // 20
print(f"{page}: {w}x{h} screenshot, {len(colours)} colours, {dark_rows} rows with dark pixels: {'ok' if ok else 'BLANK'}")
sys.exit(0 if ok else 1)
PY
    then
        echo "FAIL $page: screenshot looks blank"
        fail=1
    fi
    echo "$page: $svgs svg, $marks bars/points in the DOM"
done
if [ "$fail" = 0 ]; then echo "browser.sh: PASS"; fi
exit "$fail"
