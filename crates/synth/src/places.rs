//! Regions, towns with their postcode areas, street names and GP practice
//! code prefixes for England.
//!
//! Regions are the nine ONS English regions (names as ONS writes them) with
//! 2021 Census populations as weights. Each town carries real postcode
//! area letters and a plausible district range, so postcodes have the real
//! format (outward `AN`, `ANN`, `ANA`, `AAN`, `AANN`, `AANA`; inward `NAA`
//! without C I K M O V) and agree with the town and region.

/// Outward-code districts of a town: a numeric range after the area letters,
/// or an explicit list of full outward codes (central London's `EC1A`, `W1T`…).
#[derive(Clone, Copy, Debug)]
pub enum Districts {
    /// `area` followed by a district number in `lo..=hi`.
    Range(u8, u8),
    /// Complete outward codes.
    List(&'static [&'static str]),
}

/// A post town.
#[derive(Clone, Copy, Debug)]
pub struct Town {
    /// Post town as written on address line.
    pub name: &'static str,
    /// Postcode area letters.
    pub area: &'static str,
    /// Districts used.
    pub districts: Districts,
    /// County or ceremonial area (blank for London).
    pub county: &'static str,
    /// Relative weight within the region.
    pub weight: u32,
}

/// An English region.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    /// ONS region name (the `region` column value).
    pub name: &'static str,
    /// 2021 Census population, thousands.
    pub population_k: u32,
    /// First letters of GP practice codes in this region.
    pub gp_letters: &'static [u8],
    /// Post towns.
    pub towns: &'static [Town],
}

const fn t(
    name: &'static str,
    area: &'static str,
    lo: u8,
    hi: u8,
    county: &'static str,
    weight: u32,
) -> Town {
    Town {
        name,
        area,
        districts: Districts::Range(lo, hi),
        county,
        weight,
    }
}

const fn tl(name: &'static str, area: &'static str, list: &'static [&'static str], weight: u32) -> Town {
    Town {
        name,
        area,
        districts: Districts::List(list),
        county: "",
        weight,
    }
}

/// Index of London in [`REGIONS`].
pub const LONDON: u8 = 6;

/// The nine English regions.
pub const REGIONS: &[Region] = &[
    Region {
        name: "North East",
        population_k: 2647,
        gp_letters: b"A",
        towns: &[
            t("Newcastle upon Tyne", "NE", 1, 15, "Tyne and Wear", 30),
            t("Sunderland", "SR", 1, 8, "Tyne and Wear", 18),
            t("Durham", "DH", 1, 9, "County Durham", 14),
            t("Middlesbrough", "TS", 1, 9, "North Yorkshire", 14),
            t("Darlington", "DL", 1, 3, "County Durham", 8),
            t("Hartlepool", "TS", 24, 27, "County Durham", 7),
            t("Gateshead", "NE", 8, 11, "Tyne and Wear", 9),
        ],
    },
    Region {
        name: "North West",
        population_k: 7417,
        gp_letters: b"NP",
        towns: &[
            t("Manchester", "M", 1, 40, "Greater Manchester", 40),
            t("Liverpool", "L", 1, 36, "Merseyside", 30),
            t("Bolton", "BL", 1, 7, "Greater Manchester", 9),
            t("Oldham", "OL", 1, 9, "Greater Manchester", 8),
            t("Stockport", "SK", 1, 8, "Greater Manchester", 10),
            t("Preston", "PR", 1, 5, "Lancashire", 8),
            t("Blackburn", "BB", 1, 3, "Lancashire", 6),
            t("Blackpool", "FY", 1, 4, "Lancashire", 6),
            t("Lancaster", "LA", 1, 2, "Lancashire", 4),
            t("Carlisle", "CA", 1, 3, "Cumbria", 4),
            t("Warrington", "WA", 1, 5, "Cheshire", 7),
            t("Wigan", "WN", 1, 6, "Greater Manchester", 7),
            t("Chester", "CH", 1, 4, "Cheshire", 5),
            t("Crewe", "CW", 1, 2, "Cheshire", 4),
        ],
    },
    Region {
        name: "Yorkshire and The Humber",
        population_k: 5481,
        gp_letters: b"B",
        towns: &[
            t("Leeds", "LS", 1, 29, "West Yorkshire", 30),
            t("Bradford", "BD", 1, 15, "West Yorkshire", 18),
            t("Sheffield", "S", 1, 36, "South Yorkshire", 24),
            t("Hull", "HU", 1, 17, "East Riding of Yorkshire", 11),
            t("York", "YO", 1, 32, "North Yorkshire", 9),
            t("Huddersfield", "HD", 1, 9, "West Yorkshire", 7),
            t("Halifax", "HX", 1, 7, "West Yorkshire", 5),
            t("Wakefield", "WF", 1, 4, "West Yorkshire", 7),
            t("Doncaster", "DN", 1, 12, "South Yorkshire", 8),
            t("Harrogate", "HG", 1, 5, "North Yorkshire", 4),
        ],
    },
    Region {
        name: "East Midlands",
        population_k: 4880,
        gp_letters: b"C",
        towns: &[
            t("Nottingham", "NG", 1, 17, "Nottinghamshire", 28),
            t("Leicester", "LE", 1, 19, "Leicestershire", 24),
            t("Derby", "DE", 1, 24, "Derbyshire", 18),
            t("Lincoln", "LN", 1, 6, "Lincolnshire", 9),
            t("Northampton", "NN", 1, 7, "Northamptonshire", 14),
            t("Mansfield", "NG", 18, 21, "Nottinghamshire", 6),
            t("Chesterfield", "S", 40, 45, "Derbyshire", 6),
        ],
    },
    Region {
        name: "West Midlands",
        population_k: 5950,
        gp_letters: b"M",
        towns: &[
            t("Birmingham", "B", 1, 48, "West Midlands", 40),
            t("Coventry", "CV", 1, 6, "West Midlands", 12),
            t("Wolverhampton", "WV", 1, 14, "West Midlands", 9),
            t("Walsall", "WS", 1, 9, "West Midlands", 8),
            t("Dudley", "DY", 1, 3, "West Midlands", 7),
            t("Stoke-on-Trent", "ST", 1, 6, "Staffordshire", 9),
            t("Telford", "TF", 1, 7, "Shropshire", 6),
            t("Worcester", "WR", 1, 5, "Worcestershire", 6),
            t("Hereford", "HR", 1, 4, "Herefordshire", 4),
        ],
    },
    Region {
        name: "East of England",
        population_k: 6335,
        gp_letters: b"D",
        towns: &[
            t("Cambridge", "CB", 1, 5, "Cambridgeshire", 10),
            t("Norwich", "NR", 1, 18, "Norfolk", 14),
            t("Ipswich", "IP", 1, 11, "Suffolk", 11),
            t("Colchester", "CO", 1, 7, "Essex", 9),
            t("Chelmsford", "CM", 1, 3, "Essex", 9),
            t("Peterborough", "PE", 1, 7, "Cambridgeshire", 10),
            t("Luton", "LU", 1, 4, "Bedfordshire", 9),
            t("St Albans", "AL", 1, 4, "Hertfordshire", 8),
            t("Stevenage", "SG", 1, 2, "Hertfordshire", 6),
            t("Southend-on-Sea", "SS", 1, 9, "Essex", 9),
        ],
    },
    Region {
        name: "London",
        population_k: 8799,
        gp_letters: b"EF",
        towns: &[
            t("London", "E", 1, 18, "", 14),
            t("London", "N", 1, 22, "", 13),
            t("London", "NW", 1, 11, "", 9),
            t("London", "SE", 1, 28, "", 15),
            t("London", "SW", 2, 20, "", 13),
            t("London", "W", 2, 14, "", 9),
            tl(
                "London",
                "EC",
                &[
                    "EC1A", "EC1M", "EC1N", "EC1R", "EC1V", "EC1Y", "EC2A", "EC3N", "EC4A",
                ],
                1,
            ),
            tl(
                "London",
                "WC",
                &["WC1A", "WC1B", "WC1E", "WC1H", "WC1N", "WC1X", "WC2B", "WC2H"],
                1,
            ),
            tl(
                "London",
                "SW",
                &["SW1A", "SW1E", "SW1H", "SW1P", "SW1V", "SW1W", "SW1X", "SW1Y"],
                2,
            ),
            tl(
                "London",
                "W",
                &[
                    "W1A", "W1B", "W1D", "W1F", "W1G", "W1H", "W1J", "W1K", "W1T", "W1U", "W1W",
                ],
                2,
            ),
            tl("London", "E", &["E1W", "E14"], 1),
            t("Croydon", "CR", 2, 8, "", 5),
            t("Bromley", "BR", 1, 8, "", 4),
            t("Harrow", "HA", 1, 9, "", 4),
            t("Ilford", "IG", 1, 11, "", 4),
            t("Kingston upon Thames", "KT", 1, 9, "", 3),
            t("Romford", "RM", 1, 14, "", 4),
            t("Sutton", "SM", 1, 6, "", 3),
            t("Twickenham", "TW", 1, 20, "", 3),
            t("Enfield", "EN", 1, 11, "", 3),
            t("Uxbridge", "UB", 1, 10, "", 3),
        ],
    },
    Region {
        name: "South East",
        population_k: 9278,
        gp_letters: b"GHK",
        towns: &[
            t("Brighton", "BN", 1, 3, "East Sussex", 9),
            t("Portsmouth", "PO", 1, 22, "Hampshire", 10),
            t("Southampton", "SO", 14, 19, "Hampshire", 10),
            t("Oxford", "OX", 1, 4, "Oxfordshire", 8),
            t("Reading", "RG", 1, 6, "Berkshire", 9),
            t("Guildford", "GU", 1, 5, "Surrey", 7),
            t("Maidstone", "ME", 14, 20, "Kent", 7),
            t("Canterbury", "CT", 1, 4, "Kent", 6),
            t("Milton Keynes", "MK", 1, 19, "Buckinghamshire", 9),
            t("Slough", "SL", 1, 3, "Berkshire", 5),
            t("Crawley", "RH", 10, 11, "West Sussex", 5),
            t("Tunbridge Wells", "TN", 1, 4, "Kent", 4),
            t("High Wycombe", "HP", 10, 15, "Buckinghamshire", 5),
        ],
    },
    Region {
        name: "South West",
        population_k: 5701,
        gp_letters: b"JL",
        towns: &[
            t("Bristol", "BS", 1, 16, "", 22),
            t("Plymouth", "PL", 1, 9, "Devon", 11),
            t("Exeter", "EX", 1, 4, "Devon", 8),
            t("Bath", "BA", 1, 2, "Somerset", 5),
            t("Bournemouth", "BH", 1, 11, "Dorset", 9),
            t("Gloucester", "GL", 1, 4, "Gloucestershire", 7),
            t("Swindon", "SN", 1, 5, "Wiltshire", 8),
            t("Taunton", "TA", 1, 3, "Somerset", 5),
            t("Torquay", "TQ", 1, 2, "Devon", 5),
            t("Truro", "TR", 1, 4, "Cornwall", 6),
            t("Salisbury", "SP", 1, 2, "Wiltshire", 4),
            t("Dorchester", "DT", 1, 2, "Dorset", 3),
            t("Cheltenham", "GL", 50, 53, "Gloucestershire", 5),
        ],
    },
];

/// First words of street names.
pub const STREET_STEMS: &[&str] = &[
    "Station",
    "Church",
    "Park",
    "Victoria",
    "Green",
    "Manor",
    "Mill",
    "Queens",
    "Kings",
    "Grange",
    "Windsor",
    "Oak",
    "Elm",
    "Beech",
    "Ash",
    "Willow",
    "Chestnut",
    "Meadow",
    "Orchard",
    "School",
    "New",
    "High",
    "Albert",
    "Springfield",
    "Highfield",
    "Richmond",
    "York",
    "Alexandra",
    "North",
    "South",
    "West",
    "East",
    "Cedar",
    "Hawthorn",
    "Farm",
    "Bridge",
    "Castle",
    "Market",
    "Main",
    "Heath",
    "Lime",
    "Rose",
    "Chapel",
    "Cross",
    "Priory",
    "Abbey",
    "Sycamore",
    "Holly",
    "Stanley",
    "George",
];

/// Street types.
pub const STREET_TYPES: &[&str] = &[
    "Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens", "Crescent", "Court", "Place",
    "Grove", "Terrace", "Walk", "Rise", "Mews",
];

/// Building names used for flats.
pub const BUILDINGS: &[&str] = &[
    "Riverside Court",
    "Victoria House",
    "Park View",
    "The Maltings",
    "Kingsley House",
    "Albion Court",
    "Mill House",
    "Regent House",
    "St Johns Court",
    "Garden Court",
    "Wellington House",
    "Harbour View",
];

/// Localities (a district or village name on its own line).
pub const LOCALITIES: &[&str] = &[
    "Westfield",
    "Northgate",
    "Eastwood",
    "Southfields",
    "Ashton",
    "Hillside",
    "Broadmeadow",
    "Kingsway",
    "Fairfield",
    "Brookside",
    "Oakwood",
    "Woodside",
    "Newtown",
    "Moorside",
    "Greenhill",
    "Lowfield",
    "Stoneleigh",
    "Middleton",
    "Bramley",
    "Hollins",
];

/// Letters allowed in the inward code's last two places.
pub const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// Whether `s` has the format of a real UK postcode (one space between
/// outward and inward code) or is one of the pseudo-postcodes `ZZ99 3VZ`,
/// `ZZ99 3WZ` (other `ZZ99` codes are refused).
pub fn is_postcode_format(s: &str) -> bool {
    if s == "ZZ99 3VZ" || s == "ZZ99 3WZ" {
        return true;
    }
    let Some((out, inw)) = s.split_once(' ') else {
        return false;
    };
    if out == "ZZ99" {
        // Only the two pseudo-postcodes above are generated under ZZ99.
        return false;
    }
    let i = inw.as_bytes();
    if i.len() != 3
        || !i[0].is_ascii_digit()
        || !INWARD_LETTERS.contains(&i[1])
        || !INWARD_LETTERS.contains(&i[2])
    {
        return false;
    }
    let o = out.as_bytes();
    let a = |c: u8| c.is_ascii_uppercase();
    let n = |c: u8| c.is_ascii_digit();
    match o.len() {
        2 => a(o[0]) && n(o[1]),
        3 => a(o[0]) && ((n(o[1]) && (n(o[2]) || a(o[2]))) || (a(o[1]) && n(o[2]))),
        4 => a(o[0]) && a(o[1]) && n(o[2]) && (n(o[3]) || a(o[3])),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcode_format_rules() {
        for ok in [
            "M1 1AA", "M60 1NW", "W1A 0AX", "CR2 6XH", "DN55 1PT", "EC1A 1BB", "ZZ99 3VZ", "ZZ99 3WZ",
        ] {
            assert!(is_postcode_format(ok), "{ok}");
        }
        for bad in [
            "M1 1AC",
            "M11AA",
            "1M 1AA",
            "EC1A 1BBB",
            "ABC1 1AA",
            "M1 AAA",
            "m1 1aa",
            "SW1A  1AA",
            "ZZ99 3XZ",
        ] {
            assert!(!is_postcode_format(bad), "{bad}");
        }
    }

    #[test]
    fn tables_are_consistent() {
        assert_eq!(REGIONS.len(), 9);
        assert_eq!(REGIONS[LONDON as usize].name, "London");
        for r in REGIONS {
            assert!(!r.towns.is_empty() && !r.gp_letters.is_empty());
            for t in r.towns {
                match t.districts {
                    Districts::Range(lo, hi) => {
                        assert!(lo <= hi);
                        let s = format!("{}{} 1AA", t.area, hi);
                        assert!(is_postcode_format(&s), "{s}");
                    }
                    Districts::List(l) => {
                        for o in l {
                            assert!(o.starts_with(t.area));
                            assert!(is_postcode_format(&format!("{o} 1AA")), "{o}");
                        }
                    }
                }
            }
        }
        assert!(!INWARD_LETTERS.iter().any(|c| b"CIKMOV".contains(c)));
    }
}
