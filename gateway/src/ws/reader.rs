//! Parser of the frames a client sends (RFC 6455, server side).
//!
//! Why not fastwebsockets' reader: it keeps a fixed 8 KiB buffer per socket for the life
//! of the connection, which alone was half of the per-socket memory budget at 10,000 idle
//! sockets. Clients send a handful of tiny commands, so this reader holds no buffer at all
//! while a socket is idle: bytes are fed in as they arrive, complete frames are taken out,
//! and the buffers are released as soon as they are empty.

/// Opcodes of RFC 6455 section 5.2.
mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A complete message or control frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (all its fragments joined, unmasked).
    Text(Vec<u8>),
    /// A binary message (not part of the protocol; reported so the session can say so).
    Binary(Vec<u8>),
    /// A ping; the payload must be echoed in a pong.
    Ping(Vec<u8>),
    /// A pong (an answer to the server's heartbeat).
    Pong,
    /// The client is closing, with its close code if it gave one.
    Close(Option<u16>),
}

/// Why the byte stream is not a valid client stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A rule of RFC 6455 was broken (close code 1002).
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A message larger than the configured limit (close code 1009).
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
}

/// Incremental frame parser of one socket.
#[derive(Debug)]
pub struct FrameReader {
    /// Received bytes not yet parsed into a frame.
    pending: Vec<u8>,
    /// Opcode and payload of a fragmented message being assembled.
    partial: Option<(u8, Vec<u8>)>,
    max_message: usize,
}

impl FrameReader {
    /// A reader accepting messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            pending: Vec::new(),
            partial: None,
            max_message,
        }
    }

    /// Appends bytes read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Bytes held (pending input and a partial message): zero on an idle socket.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.pending.capacity() + self.partial.as_ref().map_or(0, |(_, p)| p.capacity())
    }

    /// Takes the next complete message or control frame, if the bytes fed hold one.
    pub fn next_frame(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let Some((header, frame)) = self.parse_header()? else {
                self.release_if_empty();
                return Ok(None);
            };
            let end = header + frame.len;
            let mut payload = self.pending[header..end].to_vec();
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= frame.mask[i % 4];
            }
            self.pending.drain(..end);
            if let Some(done) = self.assemble(frame, payload)? {
                self.release_if_empty();
                return Ok(Some(done));
            }
        }
    }

    /// Frees the input buffer once everything in it has been parsed, so an idle socket
    /// costs no buffer memory.
    fn release_if_empty(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = Vec::new();
        }
    }

    /// Parses the header at the front of `pending`: its length and the frame, or `None`
    /// when the frame is not complete yet.
    fn parse_header(&self) -> Result<Option<(usize, FrameHeader)>, ReadError> {
        let bytes = &self.pending;
        if bytes.len() < 2 {
            return Ok(None);
        }
        let fin = bytes[0] & 0x80 != 0;
        if bytes[0] & 0x70 != 0 {
            return Err(ReadError::Protocol(
                "reserved bits set without an extension",
            ));
        }
        let opcode = bytes[0] & 0x0F;
        let masked = bytes[1] & 0x80 != 0;
        if !masked {
            return Err(ReadError::Protocol("client frames must be masked"));
        }
        let (len, mut header) = match bytes[1] & 0x7F {
            126 => {
                if bytes.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4)
            }
            127 => {
                if bytes.len() < 10 {
                    return Ok(None);
                }
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(raw), 10)
            }
            short => (u64::from(short), 2),
        };
        let is_control = opcode & 0x8 != 0;
        match opcode {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => {}
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin {
                    return Err(ReadError::Protocol("control frames must not be fragmented"));
                }
                if len > 125 {
                    return Err(ReadError::Protocol("control frame longer than 125 bytes"));
                }
            }
            _ => return Err(ReadError::Protocol("unknown opcode")),
        }
        // A data frame may not make the message exceed the limit, counting what is
        // already assembled; checked before waiting for the payload so a huge length is
        // refused at once instead of being buffered.
        if !is_control {
            let assembled = self.partial.as_ref().map_or(0, |(_, p)| p.len());
            if len > (self.max_message - assembled.min(self.max_message)) as u64 {
                return Err(ReadError::TooLarge(self.max_message));
            }
        }
        let len = len as usize;
        if bytes.len() < header + 4 {
            return Ok(None);
        }
        let mask = [
            bytes[header],
            bytes[header + 1],
            bytes[header + 2],
            bytes[header + 3],
        ];
        header += 4;
        if bytes.len() < header + len {
            return Ok(None);
        }
        Ok(Some((
            header,
            FrameHeader {
                fin,
                opcode,
                len,
                mask,
            },
        )))
    }

    /// Joins fragments; returns a message when one is complete.
    fn assemble(
        &mut self,
        frame: FrameHeader,
        payload: Vec<u8>,
    ) -> Result<Option<Incoming>, ReadError> {
        match frame.opcode {
            opcode::PING => Ok(Some(Incoming::Ping(payload))),
            opcode::PONG => Ok(Some(Incoming::Pong)),
            opcode::CLOSE => {
                if payload.len() == 1 {
                    return Err(ReadError::Protocol("close payload of one byte"));
                }
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                Ok(Some(Incoming::Close(code)))
            }
            opcode::CONTINUATION => {
                let Some((first, mut assembled)) = self.partial.take() else {
                    return Err(ReadError::Protocol("continuation without a message"));
                };
                assembled.extend_from_slice(&payload);
                if frame.fin {
                    Ok(Some(message(first, assembled)))
                } else {
                    self.partial = Some((first, assembled));
                    Ok(None)
                }
            }
            data => {
                if self.partial.is_some() {
                    return Err(ReadError::Protocol("new message inside a fragmented one"));
                }
                if frame.fin {
                    Ok(Some(message(data, payload)))
                } else {
                    self.partial = Some((data, payload));
                    Ok(None)
                }
            }
        }
    }
}

fn message(opcode: u8, payload: Vec<u8>) -> Incoming {
    if opcode == opcode::TEXT {
        Incoming::Text(payload)
    } else {
        Incoming::Binary(payload)
    }
}

/// What a frame header says.
#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    fin: bool,
    opcode: u8,
    len: usize,
    mask: [u8; 4],
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes a masked client frame, as a browser would.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(reader: &mut FrameReader) -> Result<Vec<Incoming>, ReadError> {
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn parses_a_masked_text_frame_and_releases_its_buffer() {
        let mut reader = FrameReader::new(1024);
        reader.feed(&client_frame(
            true,
            opcode::TEXT,
            br#"{"type":"ping"}"#,
            [1, 2, 3, 4],
        ));
        assert_eq!(
            read_all(&mut reader).unwrap(),
            vec![Incoming::Text(br#"{"type":"ping"}"#.to_vec())]
        );
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn joins_fragments_with_interleaved_control_frames() {
        let mut reader = FrameReader::new(1024);
        reader.feed(&client_frame(false, opcode::TEXT, b"hel", [9, 8, 7, 6]));
        reader.feed(&client_frame(true, opcode::PING, b"p", [1, 1, 1, 1]));
        reader.feed(&client_frame(
            true,
            opcode::CONTINUATION,
            b"lo",
            [5, 5, 5, 5],
        ));
        assert_eq!(
            read_all(&mut reader).unwrap(),
            vec![
                Incoming::Ping(b"p".to_vec()),
                Incoming::Text(b"hello".to_vec())
            ]
        );
    }

    #[test]
    fn rejects_what_rfc_6455_forbids() {
        let cases: Vec<(Vec<u8>, ReadError)> = vec![
            (
                vec![0x81, 0x00],
                ReadError::Protocol("client frames must be masked"),
            ),
            (
                client_frame(true, 0x3, b"", [0; 4]),
                ReadError::Protocol("unknown opcode"),
            ),
            (
                {
                    let mut f = client_frame(true, opcode::TEXT, b"x", [0; 4]);
                    f[0] |= 0x40;
                    f
                },
                ReadError::Protocol("reserved bits set without an extension"),
            ),
            (
                client_frame(false, opcode::PING, b"", [0; 4]),
                ReadError::Protocol("control frames must not be fragmented"),
            ),
            (
                client_frame(true, opcode::PING, &[0; 126], [0; 4]),
                ReadError::Protocol("control frame longer than 125 bytes"),
            ),
            (
                client_frame(true, opcode::CONTINUATION, b"x", [0; 4]),
                ReadError::Protocol("continuation without a message"),
            ),
            (
                [
                    client_frame(false, opcode::TEXT, b"a", [0; 4]),
                    client_frame(true, opcode::TEXT, b"b", [0; 4]),
                ]
                .concat(),
                ReadError::Protocol("new message inside a fragmented one"),
            ),
            (
                client_frame(true, opcode::CLOSE, b"x", [0; 4]),
                ReadError::Protocol("close payload of one byte"),
            ),
        ];
        for (bytes, expected) in cases {
            let mut reader = FrameReader::new(1024);
            reader.feed(&bytes);
            assert_eq!(read_all(&mut reader), Err(expected));
        }
    }

    #[test]
    fn refuses_an_oversized_message_before_its_payload_arrives() {
        let mut reader = FrameReader::new(100);
        // Only the header of a 1 MiB frame: refused without waiting for the payload.
        reader.feed(&client_frame(true, opcode::TEXT, &vec![0; 1 << 20], [0; 4])[..14]);
        assert_eq!(reader.next_frame(), Err(ReadError::TooLarge(100)));
        // Fragments adding up past the limit are refused too.
        let mut reader = FrameReader::new(100);
        reader.feed(&client_frame(false, opcode::TEXT, &[b'a'; 60], [0; 4]));
        reader.feed(&client_frame(
            true,
            opcode::CONTINUATION,
            &[b'a'; 60],
            [0; 4],
        ));
        assert_eq!(read_all(&mut reader), Err(ReadError::TooLarge(100)));
    }

    #[test]
    fn reads_close_codes() {
        let mut reader = FrameReader::new(100);
        reader.feed(&client_frame(
            true,
            opcode::CLOSE,
            &[0x03, 0xE8, b'b', b'y'],
            [7; 4],
        ));
        reader.feed(&client_frame(true, opcode::CLOSE, b"", [7; 4]));
        assert_eq!(
            read_all(&mut reader).unwrap(),
            vec![Incoming::Close(Some(1000)), Incoming::Close(None)]
        );
    }

    proptest! {
        /// Fuzz: any bytes, split into any reads, never panic, and between reads the reader
        /// holds at most one message's worth of bytes (bounded memory) unless it has
        /// already refused the stream.
        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            bytes in prop::collection::vec(any::<u8>(), 0..20_000),
            cut in 1usize..4_096,
        ) {
            const MAX: usize = 1024;
            let mut reader = FrameReader::new(MAX);
            'stream: for piece in bytes.chunks(cut) {
                reader.feed(piece);
                loop {
                    match reader.next_frame() {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => break 'stream,
                    }
                }
                // One incomplete frame (header included) and one partial message, with
                // the vectors' growth slack.
                prop_assert!(reader.buffered() <= 2 * (2 * (MAX + 14)) + 2 * cut);
            }
        }

        /// Any sequence of messages, fragmented any way, with lengths in all three length
        /// encodings, split into arbitrary reads, parses back to the same messages.
        #[test]
        fn round_trips_any_fragmentation_and_read_split(
            messages in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..70_000), 1usize..4, any::<[u8; 4]>()),
                1..6,
            ),
            cut in 1usize..5_000,
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (payload, fragments, mask) in &messages {
                let size = payload.len().div_ceil(*fragments).max(1);
                let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(size).collect() };
                for (i, chunk) in chunks.iter().enumerate() {
                    let op = if i == 0 { opcode::BINARY } else { opcode::CONTINUATION };
                    stream.extend(client_frame(i + 1 == chunks.len(), op, chunk, *mask));
                }
                expected.push(Incoming::Binary(payload.clone()));
            }
            let mut reader = FrameReader::new(1 << 20);
            let mut got = Vec::new();
            for piece in stream.chunks(cut) {
                reader.feed(piece);
                got.extend(read_all(&mut reader).unwrap());
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(reader.buffered(), 0);
        }
    }
}
