//! The pipe between loggvakt and a plugin host: length-prefixed frames (a little-endian
//! `u64` length, then the bytes), so that binary-safe JSON of any size crosses without
//! re-encoding.

use std::io::{self, Read, Write};

/// The largest frame: an import's base64 input of a file at the largest `max_extract_mb`
/// allowed is well within it, and a corrupt length cannot make either side allocate more.
pub const MAX_FRAME: u64 = 4 << 30;

/// A call's status byte in the answer.
pub const OK: u8 = 0;
pub const ERROR: u8 = 1;

/// The method of a streaming import. Its call frame carries the limits; then, until the
/// answer (`OK` or `ERROR`), the child asks and the parent answers one frame at a time, so
/// that neither side writes while the other is not reading and the pipes cannot fill up
/// both ways (no writer thread needed), and the parent holds one piece of the file at most.
pub const IMPORT_STREAM: &str = "import_stream";
/// From the child: a `u64` (little-endian), the most bytes it wants.
pub const READ: u8 = 2;
/// From the child: a chunk's JSON.
pub const CHUNK: u8 = 3;
/// From the parent, the answer to `READ`: the next bytes of the file, none at its end.
pub const DATA: u8 = 4;
/// From the parent, the answer to `READ`: the file cannot be read on.
pub const FAIL: u8 = 5;
/// From the parent, the answers to `CHUNK`: go on, or stop.
pub const GO: u8 = 6;
pub const STOP: u8 = 7;

pub fn write(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.write_all(&(len as u64).to_le_bytes())?;
    for p in parts {
        out.write_all(p)?;
    }
    out.flush()
}

/// The next frame; `None` at a clean end of the stream (the other side closed it).
pub fn read(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    read_max(input, MAX_FRAME)
}

/// As [`read`], refusing a frame over `max` bytes before reading it.
pub fn read_max(input: &mut impl Read, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 8];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(len);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is over the limit"),
        ));
    }
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(bytes))
}

/// A call: the method's name (one length byte, then the name) and its JSON input.
pub fn call(method: &str, input: &[u8]) -> Vec<Vec<u8>> {
    vec![
        vec![method.len().min(255) as u8],
        method.as_bytes()[..method.len().min(255)].to_vec(),
        input.to_vec(),
    ]
}

/// Splits a call frame into the method and the input.
pub fn split_call(frame: &[u8]) -> Option<(&str, &[u8])> {
    let (&len, rest) = frame.split_first()?;
    let len = usize::from(len);
    let method = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((method, &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_cut_frame_is_an_error() {
        let mut pipe = Vec::new();
        let parts = call("order", b"{\"a\":1}");
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        write(&mut pipe, &refs).unwrap();
        write(&mut pipe, &[&[OK], b"null"]).unwrap();
        let mut r = pipe.as_slice();
        let first = read(&mut r).unwrap().unwrap();
        assert_eq!(split_call(&first), Some(("order", &b"{\"a\":1}"[..])));
        assert_eq!(read(&mut r).unwrap().unwrap(), b"\0null");
        assert!(read(&mut r).unwrap().is_none());
        let cut = &pipe[..pipe.len() - 2];
        let mut r = cut;
        read(&mut r).unwrap();
        assert!(read(&mut r).is_err());
    }
}
