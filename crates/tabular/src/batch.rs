//! The one parallel row pipeline: read a [`Source`] in batches on the
//! calling thread, run a [`RowJob`] over each batch on worker threads, and
//! hand the batches' outputs to a sink **in input order**.
//!
//! Reading, working and writing overlap: while workers process up to two
//! batches each, the calling thread reads the next batch and writes the
//! finished ones. Batches and their output buffers are recycled, so nothing
//! is allocated per row once the buffers have grown.
//!
//! When the run ends the recycled records are overwritten with zeros, up to
//! the longest record each held. Copies made by earlier reallocations of a
//! record's buffer, and the reader's own buffers, are not cleared (freed
//! memory is not wiped by the allocator): this shortens how long most
//! identifiers stay in memory, it does not guarantee none remain.

use crate::cell::Line;
use crate::error::TabularError;
use crate::input::Source;
use csv::ByteRecord;
use std::sync::mpsc::{channel, Receiver, Sender};

/// Rows read together and handed to one worker.
pub const BATCH_ROWS: usize = 4096;

/// A rejected row: its input line, the column at fault (`None`: the whole
/// row, e.g. ragged) and a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    pub column: Option<usize>,
    pub reason: &'static str,
}

/// What a batch's output must support to be recycled.
pub trait BatchOut: Default + Send {
    /// Empty it for the next batch (keeping its buffers).
    fn clear(&mut self);
}

/// The usual output of a batch: CSV lines, rejected rows, rows written.
#[derive(Default, Debug)]
pub struct RowsOut {
    pub bytes: Vec<u8>,
    pub rejects: Vec<Reject>,
    pub rows_out: u64,
}

impl RowsOut {
    /// Record a rejected row.
    pub fn reject(&mut self, line: u64, column: Option<usize>, reason: &'static str) {
        self.rejects.push(Reject { line, column, reason });
    }
}

impl BatchOut for RowsOut {
    fn clear(&mut self) {
        self.bytes.clear();
        self.rejects.clear();
        self.rows_out = 0;
    }
}

/// Work done on every row, in parallel. The job is shared by the workers;
/// each worker has its own [`RowJob::Worker`] state (scratch buffers, caches).
pub trait RowJob: Sync {
    /// Per-worker state, made on the worker's thread.
    type Worker;
    /// One batch's output.
    type Out: BatchOut;
    /// New state for a worker.
    fn worker(&self) -> Self::Worker;
    /// Process the row read at input `line` into `out`.
    fn row(&self, w: &mut Self::Worker, line: u64, rec: &ByteRecord, out: &mut Self::Out);
}

/// Cells a job computes from a row and writes into its output line (e.g.
/// a CLK and its blocking keys), so that jobs can share them.
pub trait RowCells: Sync {
    /// Per-worker buffers.
    type Scratch: Default;
    /// The header names of the cells, in the order [`RowCells::write`] writes them.
    fn names(&self) -> Vec<&str>;
    /// Whether input column `i` is read to compute the cells.
    fn reads_column(&self, i: usize) -> bool;
    /// Compute the row's cells into `s`; a rejected row gives the column at
    /// fault (if one) and a reason code.
    fn compute(&self, s: &mut Self::Scratch, rec: &ByteRecord) -> Result<(), (Option<usize>, &'static str)>;
    /// Write the cells last computed.
    fn write(&self, s: &Self::Scratch, line: &mut Line<'_>);
}

/// A job that writes, for every row of the expected width, the cells of a
/// [`RowCells`] and then the `keep` columns (neutralised: a person may open
/// the file); rows it cannot compute are rejected.
pub struct CellRows<C> {
    pub cells: C,
    /// Input columns passed through, in order.
    pub keep: Vec<usize>,
    /// The header's width: other rows are rejected as `ragged_row`.
    pub width: usize,
}

impl<C: RowCells> CellRows<C> {
    /// The output's header line.
    pub fn header(&self, input_header: &[String]) -> Vec<u8> {
        let mut names: Vec<&[u8]> = self.cells.names().into_iter().map(str::as_bytes).collect();
        names.extend(self.keep.iter().map(|&k| input_header[k].as_bytes()));
        crate::cell::header_line(&names)
    }
}

impl<C: RowCells> RowJob for CellRows<C> {
    type Worker = C::Scratch;
    type Out = RowsOut;
    fn worker(&self) -> C::Scratch {
        C::Scratch::default()
    }
    fn row(&self, s: &mut C::Scratch, line: u64, rec: &ByteRecord, out: &mut RowsOut) {
        if rec.len() != self.width {
            return out.reject(line, None, "ragged_row");
        }
        if let Err((column, reason)) = self.cells.compute(s, rec) {
            return out.reject(line, column, reason);
        }
        let mut l = Line::new(&mut out.bytes);
        self.cells.write(s, &mut l);
        for &k in &self.keep {
            l.text(&rec[k]);
        }
        l.end();
        out.rows_out += 1;
    }
}

/// A batch of records with their input lines.
struct Batch {
    recs: Vec<ByteRecord>,
    lines: Vec<u64>,
    len: usize,
    bytes_read: u64,
    /// The longest record each slot has held (what [`Batch::wipe`] clears).
    high_water: Vec<usize>,
}

impl Batch {
    fn new(rows: usize) -> Batch {
        Batch {
            recs: vec![ByteRecord::new(); rows],
            lines: vec![0; rows],
            len: 0,
            bytes_read: 0,
            high_water: vec![0; rows],
        }
    }

    /// Read up to a batch of records; false at the end of the input.
    fn fill(&mut self, src: &mut Source) -> Result<bool, TabularError> {
        self.len = 0;
        let mut more = true;
        while self.len < self.recs.len() {
            let rec = &mut self.recs[self.len];
            if !src.read(rec)? {
                more = false;
                break;
            }
            let hw = &mut self.high_water[self.len];
            *hw = (*hw).max(rec.as_slice().len());
            self.lines[self.len] = src.position().line;
            self.len += 1;
        }
        self.bytes_read = src.bytes_read();
        Ok(more)
    }

    fn run<J: RowJob>(&self, job: &J, w: &mut J::Worker, out: &mut J::Out) {
        out.clear();
        for (rec, &line) in self.recs[..self.len].iter().zip(&self.lines) {
            job.row(w, line, rec, out);
        }
    }

    /// Overwrite the records' bytes with zeros (each up to the longest
    /// record it held, so the cost is that of reading them once).
    fn wipe(&mut self) {
        let longest = self.high_water.iter().copied().max().unwrap_or(0);
        let zeros = vec![0u8; longest];
        for (r, hw) in self.recs.iter_mut().zip(&mut self.high_water) {
            r.clear();
            r.push_field(&zeros[..*hw]);
            r.clear();
            *hw = 0;
        }
    }
}

type Work<O> = (Batch, O);

/// Run `job` over every row of `src` on worker threads (as many as the
/// machine has cores, at most 8) and pass each batch's output to `sink` in
/// input order, with the input bytes read so far (for progress).
pub fn run_ordered<J, E>(
    src: &mut Source,
    job: &J,
    mut sink: impl FnMut(&J::Out, u64) -> Result<(), E>,
) -> Result<(), E>
where
    J: RowJob,
    E: From<TabularError>,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    std::thread::scope(|scope| {
        let mut to: Vec<Sender<Work<J::Out>>> = Vec::with_capacity(workers);
        let mut from: Vec<Receiver<Work<J::Out>>> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = channel::<Work<J::Out>>();
            let (dtx, drx) = channel::<Work<J::Out>>();
            scope.spawn(move || {
                let mut w = job.worker();
                while let Ok((batch, mut out)) = rx.recv() {
                    batch.run(job, &mut w, &mut out);
                    if dtx.send((batch, out)).is_err() {
                        break;
                    }
                }
            });
            to.push(tx);
            from.push(drx);
        }
        let failed = || E::from(TabularError::WorkerFailed);
        let mut free: Vec<Work<J::Out>> = Vec::new();
        let (mut sent, mut received) = (0usize, 0usize);
        let mut receive = |received: &mut usize, free: &mut Vec<Work<J::Out>>| -> Result<(), E> {
            let (batch, out) = from[*received % workers].recv().map_err(|_| failed())?;
            *received += 1;
            sink(&out, batch.bytes_read)?;
            free.push((batch, out));
            Ok(())
        };
        let mut more = true;
        while more {
            let (mut batch, out) = free
                .pop()
                .unwrap_or_else(|| (Batch::new(BATCH_ROWS), J::Out::default()));
            more = batch.fill(src)?;
            to[sent % workers].send((batch, out)).map_err(|_| failed())?;
            sent += 1;
            if sent - received >= 2 * workers {
                receive(&mut received, &mut free)?;
            }
        }
        while received < sent {
            receive(&mut received, &mut free)?;
        }
        drop(to);
        for (b, _) in &mut free {
            b.wipe();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echo the first field, reject rows whose first field is `bad`.
    struct Echo;
    impl RowJob for Echo {
        type Worker = u64;
        type Out = RowsOut;
        fn worker(&self) -> u64 {
            0
        }
        fn row(&self, seen: &mut u64, line: u64, rec: &ByteRecord, out: &mut RowsOut) {
            *seen += 1;
            if &rec[0] == b"bad" {
                out.reject(line, Some(0), "bad");
                return;
            }
            out.bytes.extend_from_slice(&rec[0]);
            out.bytes.push(b'\n');
            out.rows_out += 1;
        }
    }

    fn source(rows: usize) -> Source {
        let mut csv = String::from("v\n");
        for i in 0..rows {
            if i % 1000 == 7 {
                csv.push_str("bad\n");
            } else {
                csv.push_str(&format!("{i}\n"));
            }
        }
        Source::from_reader("t", Box::new(std::io::Cursor::new(csv.into_bytes()))).unwrap()
    }

    #[test]
    fn outputs_in_input_order_and_every_row_accounted_for() {
        for rows in [0, 1, BATCH_ROWS - 1, BATCH_ROWS, 5 * BATCH_ROWS + 3] {
            let mut src = source(rows);
            let (mut bytes, mut rejects, mut out_rows) = (Vec::new(), Vec::new(), 0);
            run_ordered::<_, TabularError>(&mut src, &Echo, |o, _| {
                bytes.extend_from_slice(&o.bytes);
                rejects.extend_from_slice(&o.rejects);
                out_rows += o.rows_out;
                Ok(())
            })
            .unwrap();
            let expect: String = (0..rows)
                .filter(|i| i % 1000 != 7)
                .map(|i| format!("{i}\n"))
                .collect();
            assert_eq!(String::from_utf8(bytes).unwrap(), expect);
            let lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
            let want: Vec<u64> = (0..rows as u64)
                .filter(|i| i % 1000 == 7)
                .map(|i| i + 2)
                .collect();
            assert_eq!(lines, want);
            assert_eq!(out_rows + rejects.len() as u64, src.rows());
        }
    }

    #[test]
    fn a_sink_error_stops_the_run() {
        let mut src = source(3 * BATCH_ROWS);
        let mut calls = 0;
        let r = run_ordered(&mut src, &Echo, |_, _| {
            calls += 1;
            Err(TabularError::WorkerFailed)
        });
        assert!(matches!(r, Err(TabularError::WorkerFailed)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn wipe_zeroes_records() {
        let mut b = Batch::new(2);
        b.fill(&mut source(2)).unwrap();
        assert!(b.high_water.iter().all(|&h| h > 0));
        b.wipe();
        assert!(b.recs.iter().all(|r| r.is_empty()));
    }
}
