//! Deflate for small files: one hash probe per position and deflate's fixed Huffman codes, the
//! method zlib-rs uses at level 1 (`deflate_quick`), without its per-stream set-up.
//!
//! Every zip entry is its own deflate stream, and zlib-rs clears its 128 KiB hash table each time
//! a stream starts: for a dbt target's tens of thousands of small files that clearing was a fifth
//! of the compression threads' time. Here the table holds positions in a whole batch of files
//! ([`SmallDeflater::start_batch`] clears it once per batch) and a candidate from before the file
//! being compressed is ignored, so each file's stream depends on that file's bytes alone.

/// 2^14 entries of 4 bytes: 64 KiB, cleared once per batch of up to 256 KiB of files.
const HASH_BITS: u32 = 14;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;
const MAX_DISTANCE: usize = 32 * 1024;
const END_OF_BLOCK: usize = 256;
/// A stored block holds at most this many bytes.
const MAX_STORED: usize = 0xFFFF;

pub(crate) struct SmallDeflater {
    /// For each hash, 1 + the batch position where it was last seen; 0 for none.
    table: Box<[u32]>,
}

impl SmallDeflater {
    pub(crate) fn new() -> Self {
        Self {
            table: vec![0; 1 << HASH_BITS].into_boxed_slice(),
        }
    }

    /// Forgets every position: call before the first file of each batch.
    pub(crate) fn start_batch(&mut self) {
        self.table.fill(0);
    }

    /// Appends one complete deflate stream of `batch[start..end]` to `out`. Positions are
    /// remembered in batch coordinates, so later files of the batch skip them cheaply.
    pub(crate) fn deflate(&mut self, batch: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
        let before = out.len();
        let input = &batch[start..end];
        self.deflate_fixed(batch, start, end, out);
        // Fixed codes spend 9 bits on some bytes: data that does not repeat is smaller stored.
        if out.len() - before > stored_size(input.len()) {
            out.truncate(before);
            deflate_stored(input, out);
        }
    }

    fn deflate_fixed(&mut self, batch: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
        let mut bits = BitWriter::new(out);
        // BFINAL = 1, BTYPE = 01 (fixed Huffman codes).
        bits.put(0b011, 3);
        let mut pos = start;
        while pos + MIN_MATCH <= end {
            let word =
                u32::from_le_bytes([batch[pos], batch[pos + 1], batch[pos + 2], batch[pos + 3]]);
            let slot = (word.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize;
            let seen = self.table[slot] as usize;
            self.table[slot] = (pos + 1) as u32;
            if seen > start && pos + 1 - seen <= MAX_DISTANCE {
                let candidate = seen - 1;
                let limit = (end - pos).min(MAX_MATCH);
                let length = common_prefix(&batch[candidate..], &batch[pos..pos + limit]);
                if length >= MIN_MATCH {
                    bits.put_length(length);
                    bits.put_distance(pos - candidate);
                    pos += length;
                    continue;
                }
            }
            bits.put_literal(batch[pos]);
            pos += 1;
        }
        for &byte in &batch[pos..end] {
            bits.put_literal(byte);
        }
        bits.put_symbol(END_OF_BLOCK);
        bits.finish();
    }
}

/// Deflates each of `files` as [`crate::write_archive`] deflates a batch of small files: one
/// complete deflate stream each, in the order given. For fuzzing and tools.
pub fn deflate_small_files(files: &[&[u8]]) -> Vec<Vec<u8>> {
    let batch = files.concat();
    let mut deflater = SmallDeflater::new();
    deflater.start_batch();
    let mut start = 0;
    files
        .iter()
        .map(|file| {
            let end = start + file.len();
            let mut out = Vec::new();
            deflater.deflate(&batch, start, end, &mut out);
            start = end;
            out
        })
        .collect()
}

/// How many leading bytes `a` and `b` share, at most `b.len()`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut length = 0;
    while length + 8 <= b.len() && length + 8 <= a.len() {
        let x = u64::from_le_bytes(a[length..length + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(b[length..length + 8].try_into().unwrap_or([0; 8]));
        let differ = x ^ y;
        if differ != 0 {
            return length + (differ.trailing_zeros() / 8) as usize;
        }
        length += 8;
    }
    while length < b.len() && length < a.len() && a[length] == b[length] {
        length += 1;
    }
    length
}

/// The size of `length` bytes as stored blocks: 5 bytes of header per block.
fn stored_size(length: usize) -> usize {
    length + 5 * length.div_ceil(MAX_STORED).max(1)
}

fn deflate_stored(input: &[u8], out: &mut Vec<u8>) {
    let mut chunks = input.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        // An empty final stored block.
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xFF, 0xFF]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        // BFINAL on the last block, BTYPE = 00, then padding to the byte boundary.
        out.push(u8::from(chunks.peek().is_none()));
        let length = chunk.len() as u16;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&(!length).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// Writes bits least significant first, as deflate packs them.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    bits: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            bits: 0,
            count: 0,
        }
    }

    /// `count` is at most 32.
    fn put(&mut self, value: u32, count: u32) {
        self.bits |= u64::from(value) << self.count;
        self.count += count;
        if self.count >= 32 {
            self.out
                .extend_from_slice(&(self.bits as u32).to_le_bytes());
            self.bits >>= 32;
            self.count -= 32;
        }
    }

    fn put_symbol(&mut self, symbol: usize) {
        let (code, length) = FIXED_LITERAL_CODES[symbol];
        self.put(u32::from(code), u32::from(length));
    }

    fn put_literal(&mut self, byte: u8) {
        self.put_symbol(usize::from(byte));
    }

    /// A match length, 3 to 258: its symbol, then its extra bits.
    fn put_length(&mut self, length: usize) {
        if length == MAX_MATCH {
            self.put_symbol(285);
            return;
        }
        let x = (length - 3) as u32;
        if x < 8 {
            self.put_symbol(257 + x as usize);
            return;
        }
        let log = 31 - x.leading_zeros();
        let extra_bits = log - 2;
        let symbol = 257 + 4 * (log - 1) + ((x >> extra_bits) & 3);
        self.put_symbol(symbol as usize);
        self.put(x & ((1 << extra_bits) - 1), extra_bits);
    }

    /// A distance, 1 to 32768: its 5-bit code, then its extra bits.
    fn put_distance(&mut self, distance: usize) {
        let x = (distance - 1) as u32;
        if x < 4 {
            self.put(reverse_bits(x, 5), 5);
            return;
        }
        let log = 31 - x.leading_zeros();
        let extra_bits = log - 1;
        let code = 2 * log + ((x >> extra_bits) & 1);
        self.put(reverse_bits(code, 5), 5);
        self.put(x & ((1 << extra_bits) - 1), extra_bits);
    }

    fn finish(self) {
        let bytes = self.count.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.bits.to_le_bytes()[..bytes]);
    }
}

fn reverse_bits(code: u32, length: u32) -> u32 {
    code.reverse_bits() >> (32 - length)
}

/// Deflate's fixed literal/length codes (RFC 1951, 3.2.6), bit-reversed for LSB-first writing.
static FIXED_LITERAL_CODES: [(u16, u8); 288] = fixed_literal_codes();

const fn fixed_literal_codes() -> [(u16, u8); 288] {
    let mut codes = [(0u16, 0u8); 288];
    let mut symbol = 0;
    while symbol < 288 {
        let (code, length) = match symbol {
            0..=143 => (0x30 + symbol as u32, 8),
            144..=255 => (0x190 + (symbol as u32 - 144), 9),
            256..=279 => (symbol as u32 - 256, 7),
            _ => (0xC0 + (symbol as u32 - 280), 8),
        };
        codes[symbol] = ((code.reverse_bits() >> (32 - length)) as u16, length as u8);
        symbol += 1;
    }
    codes
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn inflate(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(stream)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Compresses each part as one file of a single batch and checks every stream inflates back.
    fn round_trip(parts: &[&[u8]]) -> Vec<usize> {
        let batch: Vec<u8> = parts.concat();
        let mut deflater = SmallDeflater::new();
        deflater.start_batch();
        let mut start = 0;
        let mut sizes = Vec::new();
        for part in parts {
            let end = start + part.len();
            let mut out = Vec::new();
            deflater.deflate(&batch, start, end, &mut out);
            assert_eq!(inflate(&out), *part, "part of {} bytes", part.len());
            sizes.push(out.len());
            start = end;
        }
        sizes
    }

    /// A small xorshift generator: the same bytes on every run.
    fn noise(seed: u64, length: usize) -> Vec<u8> {
        let mut state = seed | 1;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn sql(models: usize) -> Vec<u8> {
        (0..models)
            .map(|i| format!("select id, amount_{i}, created_at from analytics.stg_orders_{} where status = 'shipped'\n", i % 37))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn every_kind_of_input_inflates_back() {
        let text = sql(400);
        let random = noise(7, 70_000);
        let runs = vec![b'a'; 10_000];
        let high = (0..=255u8).cycle().take(5_000).collect::<Vec<_>>();
        round_trip(&[
            b"",
            b"a",
            b"abc",
            b"abcd",
            b"abcdabcdabcd",
            &text,
            &random,
            &runs,
            &high,
        ]);
        for length in (0..600).chain([4095, 4096, 65_535, 65_536]) {
            round_trip(&[&text[..length.min(text.len())], &random[..length]]);
        }
    }

    #[test]
    fn matches_reach_the_furthest_distance_and_no_further() {
        // Zeros between two copies of a block: they hash to one slot, so the block's positions
        // stay in the table and only the distance decides whether the copy is matched.
        let block = noise(3, 300);
        let copy_at = |distance: usize| {
            let mut input = block.clone();
            input.resize(distance, 0);
            input.extend(&block);
            input
        };
        let within = round_trip(&[&copy_at(MAX_DISTANCE)])[0];
        let beyond = round_trip(&[&copy_at(MAX_DISTANCE + 1)])[0];
        assert!(
            within + 250 < beyond,
            "a copy 32 KiB back takes {within} bytes, one a byte further {beyond}"
        );
    }

    #[test]
    fn a_file_never_refers_back_into_the_file_before_it() {
        let text = sql(200);
        // The second file repeats the first: were it to reach back into it, it would be tiny and
        // would not inflate on its own.
        let sizes = round_trip(&[&text, &text]);
        assert_eq!(sizes[0], sizes[1]);
    }

    #[test]
    fn text_compresses_about_as_well_as_zlib_level_1_and_noise_is_stored() {
        let text = sql(600);
        let ours = round_trip(&[&text])[0];
        let mut zlib = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut zlib, &text).unwrap();
        let theirs = zlib.finish().unwrap().len();
        assert!(
            ours * 10 <= theirs * 12,
            "{ours} bytes against zlib's {theirs}"
        );
        let random = noise(11, 20_000);
        assert_eq!(round_trip(&[&random])[0], stored_size(random.len()));
    }

    #[test]
    fn the_same_file_gives_the_same_stream_whatever_came_before_it() {
        let text = sql(100);
        let mut deflater = SmallDeflater::new();
        let mut alone = Vec::new();
        deflater.start_batch();
        deflater.deflate(&text, 0, text.len(), &mut alone);
        let mut batch = noise(1, 5_000);
        batch.extend(&text);
        let mut after_noise = Vec::new();
        deflater.start_batch();
        deflater.deflate(&batch, 0, 5_000, &mut Vec::new());
        deflater.deflate(&batch, 5_000, batch.len(), &mut after_noise);
        assert_eq!(alone, after_noise);
    }
}
