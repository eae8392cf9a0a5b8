//! The capture of one probe (`rdpscope probe --pcap FILE`): a pcapng file that Wireshark and
//! tshark open without any other file.
//!
//! The packets are the real bytes of the connection as the client's socket saw them, with
//! their real times, framed as TCP segments of one connection (the handshake and the close
//! are synthesized: the probe sees the byte stream, not the packets). The TLS records stay
//! as they went over the wire; the TLS secrets travel in a Decryption Secrets Block, so
//! Wireshark decrypts them and dissects CredSSP and the RDP PDUs inside. Before the secrets
//! go in, the records that carry password material (the NTLM AUTHENTICATE message's
//! responses, session key and MIC; the TSCredentials) are decrypted, blanked and encrypted
//! again with the same keys (see `tls`); when that cannot be done for every such record,
//! the secrets stay out. [`Capture::pcapng`] with `Credentials::Keep` keeps them as they
//! were: a file that lets anyone crack the password offline.

mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::blocks::unknown::UnknownBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use crate::probe::trail::Chunk;
use crate::report::Direction;
use crate::Stage;

#[cfg(feature = "fuzzing")]
pub(crate) use tls::redact_plaintext;
pub(crate) use tls::KeyLine;

/// What to do with the password material in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Blank it (the default): the capture cannot crack or replay the password.
    Redact,
    /// Keep it as it was sent: the NTLM AUTHENTICATE response in the capture can be
    /// cracked offline.
    Keep,
}

/// Everything a capture is made of, kept by [`crate::probe_with_capture`].
#[derive(Debug, Clone)]
pub struct Capture {
    pub(crate) started: Instant,
    pub(crate) started_wall: SystemTime,
    pub(crate) connected: Option<(Instant, SocketAddr, SocketAddr)>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) keys: Vec<KeyLine>,
    pub(crate) ended: Instant,
    /// Whether the server ended the connection (a FIN from it), else the client did.
    pub(crate) server_closed: bool,
    pub(crate) comment: String,
}

/// A capture written, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The pcapng file.
    pub bytes: Vec<u8>,
    /// Packets in it.
    pub packets: usize,
    /// Whether the TLS secrets are embedded (the TLS records decrypt in Wireshark).
    pub secrets_embedded: bool,
    /// How many pieces of password material were blanked.
    pub redacted: usize,
    /// Why the secrets were left out, when they were.
    pub secrets_left_out: Option<String>,
}

/// pcapng Decryption Secrets Block type and its TLS key log secrets type.
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;
const TLS_KEY_LOG: u32 = 0x544C_534B;
/// One synthesized packet: when, its bytes, and rdpscope's note on what it carries.
struct Packet {
    at: Duration,
    data: Vec<u8>,
    comment: Option<String>,
}

/// The bytes `chunks` carried in one direction, in order.
fn stream(chunks: &[Chunk], direction: Direction) -> Vec<u8> {
    chunks
        .iter()
        .filter(|c| c.direction == direction)
        .flat_map(|c| c.bytes.iter().copied())
        .collect()
}

/// The port Wireshark dissects RDP on: the capture shows the server there, whatever port
/// it listened on (the section header's comment says which).
const RDP_PORT: u16 = 3389;
/// The largest TCP payload per synthesized segment.
const SEGMENT: usize = 16 * 1024;
/// Initial sequence numbers of the synthesized connection.
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 2_000_000;

impl Capture {
    /// The TLS secrets in SSLKEYLOGFILE format (`--keylog`): decrypts the real session,
    /// credentials included, for whoever also has its packets.
    pub fn keylog(&self) -> String {
        self.keys.iter().map(KeyLine::to_line).collect()
    }

    /// Whether the probe reached TCP: without a connection there is nothing to capture.
    pub fn connected(&self) -> bool {
        self.connected.is_some()
    }

    /// The pcapng file.
    pub fn pcapng(&self, credentials: Credentials) -> Written {
        let mut chunks = self.chunks.clone();
        let mut left_out = None;
        let mut redacted = 0;
        if !self.keys.is_empty() && credentials == Credentials::Redact {
            match self.redact(&mut chunks) {
                Ok(count) => redacted = count,
                Err(why) => left_out = Some(why),
            }
        }
        let secrets_embedded = !self.keys.is_empty() && left_out.is_none();
        let mut packets = Vec::new();
        if let Some((at, client, mut server)) = self.connected {
            // Wireshark dissects RDP (TPKT, and the TLS inside) on its port only.
            server.set_port(RDP_PORT);
            packets = self.packets(at, client, server, &chunks);
        }
        let bytes = self.write(&packets, secrets_embedded).unwrap_or_default();
        Written {
            bytes,
            packets: packets.len(),
            secrets_embedded,
            redacted,
            secrets_left_out: left_out,
        }
    }

    /// The names of the PDUs in one direction's stream (`side` wrote it), by the offset
    /// where each starts: the X.224 frames and TLS handshake records as they are, the
    /// content of the protected records decrypted with the key log (when it opens them).
    fn names(
        &self,
        stream: &[u8],
        side: tls::Side,
        server: &[u8],
    ) -> std::collections::BTreeMap<usize, Vec<String>> {
        use crate::probe::trail::{pdu, Layer};
        let direction = match side {
            tls::Side::Client => Direction::Sent,
            tls::Side::Server => Direction::Received,
        };
        let mut names: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
        let mut at = 0;
        while at < stream.len() {
            let rest = &stream[at..];
            let Some(len) =
                pdu::length(Layer::Wire, Stage::X224, rest).filter(|&l| l <= rest.len())
            else {
                break;
            };
            let named = pdu::name(Layer::Wire, direction, Stage::X224, &rest[..len]);
            if !named.encrypted {
                let detail = named
                    .step_detail
                    .map_or_else(String::new, |d| format!(" ({d})"));
                names
                    .entry(at)
                    .or_default()
                    .push(format!("{}{detail}", named.name));
            }
            at += len;
        }
        let opened = tls::Keys::derive(side, server, &self.keys)
            .and_then(|keys| keys.open_all(stream))
            .unwrap_or_default();
        // The plaintext PDUs, each named at the record where it starts.
        let mut plain: Vec<u8> = Vec::new();
        let mut starts: Vec<(usize, usize)> = Vec::new();
        for record in &opened {
            match record.content_type {
                23 => {
                    starts.push((plain.len(), record.start));
                    plain.extend_from_slice(&record.content);
                }
                21 if record.content.len() == 2 => {
                    let description = rustls::AlertDescription::from(record.content[1]);
                    names
                        .entry(record.start)
                        .or_default()
                        .push(format!("TLS Alert ({description:?})"));
                }
                _ => names
                    .entry(record.start)
                    .or_default()
                    .push("TLS encrypted handshake message".to_owned()),
            }
        }
        let record_of = |offset: usize| {
            starts
                .iter()
                .rev()
                .find(|(plain_at, _)| *plain_at <= offset)
                .map_or(0, |(_, record)| *record)
        };
        let mut at = 0;
        let mut seen_tpkt = false;
        while at < plain.len() {
            let rest = &plain[at..];
            seen_tpkt |= rest[0] == 0x03;
            let stage = if seen_tpkt {
                Stage::BasicSettings
            } else {
                Stage::Credssp
            };
            let len = pdu::length(Layer::Plain, stage, rest)
                .filter(|&l| l <= rest.len())
                .unwrap_or(rest.len());
            let named = pdu::name(Layer::Plain, direction, stage, &rest[..len]);
            names
                .entry(record_of(at))
                .or_default()
                .push(named.name.into_owned());
            at += len;
        }
        names
    }

    /// Blanks the password material in the client's records, in place.
    fn redact(&self, chunks: &mut [Chunk]) -> Result<usize, String> {
        let mut client = stream(chunks, Direction::Sent);
        let server = stream(chunks, Direction::Received);
        let count = tls::redact_client_records(&mut client, &server, &self.keys)?;
        // Put the redacted stream back into the chunks it came in.
        let mut at = 0;
        for chunk in chunks.iter_mut().filter(|c| c.direction == Direction::Sent) {
            let len = chunk.bytes.len();
            chunk.bytes.copy_from_slice(&client[at..at + len]);
            at += len;
        }
        Ok(count)
    }

    /// The section's comment: what the file is and what was synthesized.
    fn describe(&self) -> String {
        let server = self.connected.map_or_else(
            || "no connection".to_owned(),
            |(_, _, server)| server.to_string(),
        );
        format!(
            "rdpscope probe of {server}: the bytes the client sent and received, with their times; \
             the TCP handshake and close are synthesized, and the server is shown on port {RDP_PORT} \
             so that Wireshark dissects RDP"
        )
    }

    fn wall(&self, at: Instant) -> Duration {
        let since = at.saturating_duration_since(self.started);
        (self.started_wall + since)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// The connection as IP packets: handshake, data segments, close.
    fn packets(
        &self,
        connected: Instant,
        client: SocketAddr,
        server: SocketAddr,
        chunks: &[Chunk],
    ) -> Vec<Packet> {
        let mut out = Vec::new();
        let (mut client_seq, mut server_seq) = (CLIENT_ISN, SERVER_ISN);
        let t = self.wall(connected);
        let segment =
            |from_client: bool, seq: u32, ack: Option<u32>, flags: Flags, payload: &[u8]| {
                build(client, server, from_client, seq, ack, flags, payload)
            };
        let packet = |at, data, comment| Packet { at, data, comment };
        out.push(packet(
            t,
            segment(true, client_seq, None, Flags::Syn, &[]),
            None,
        ));
        out.push(packet(
            t,
            segment(false, server_seq, Some(client_seq + 1), Flags::Syn, &[]),
            None,
        ));
        client_seq += 1;
        server_seq += 1;
        out.push(packet(
            t,
            segment(true, client_seq, Some(server_seq), Flags::Ack, &[]),
            None,
        ));
        let streams =
            [Direction::Sent, Direction::Received].map(|direction| stream(chunks, direction));
        let cuts = [cut_points(&streams[0]), cut_points(&streams[1])];
        let names = [
            self.names(&streams[0], tls::Side::Client, &streams[1]),
            self.names(&streams[1], tls::Side::Server, &streams[1]),
        ];
        let mut offsets = [0usize; 2];
        for chunk in chunks {
            let from_client = chunk.direction == Direction::Sent;
            let side = usize::from(!from_client);
            let start = offsets[side];
            offsets[side] += chunk.bytes.len();
            for (offset, piece) in split(&chunk.bytes, start, &cuts[side]) {
                let (seq, ack) = if from_client {
                    (&mut client_seq, server_seq)
                } else {
                    (&mut server_seq, client_seq)
                };
                let data = segment(from_client, *seq, Some(ack), Flags::Push, piece);
                *seq = seq.wrapping_add(piece.len() as u32);
                let from = start + offset;
                let inside: Vec<&str> = names[side]
                    .range(from..from + piece.len())
                    .flat_map(|(_, names)| names.iter().map(String::as_str))
                    .collect();
                let comment =
                    (!inside.is_empty()).then(|| format!("rdpscope: {}", inside.join("; ")));
                out.push(packet(self.wall(chunk.at), data, comment));
            }
        }
        let t = self.wall(self.ended);
        let fin = if self.server_closed {
            segment(false, server_seq, Some(client_seq), Flags::Fin, &[])
        } else {
            segment(true, client_seq, Some(server_seq), Flags::Fin, &[])
        };
        out.push(packet(t, fin, Some(self.comment.clone())));
        out
    }

    fn write(&self, packets: &[Packet], secrets: bool) -> pcap_file::PcapResult<Vec<u8>> {
        let section = SectionHeaderBlock {
            endianness: Endianness::Big,
            options: vec![
                SectionHeaderOption::UserApplication(
                    format!("rdpscope {}", env!("CARGO_PKG_VERSION")).into(),
                ),
                SectionHeaderOption::Comment(self.describe().into()),
            ],
            ..SectionHeaderBlock::default()
        };
        let mut writer = PcapNgWriter::with_section_header(Vec::new(), section)?;
        if secrets {
            let log = self.keylog().into_bytes();
            let mut body = Vec::with_capacity(8 + log.len() + 3);
            body.extend_from_slice(&TLS_KEY_LOG.to_be_bytes());
            body.extend_from_slice(&(log.len() as u32).to_be_bytes());
            body.extend_from_slice(&log);
            body.resize(body.len().next_multiple_of(4), 0);
            let length = 12 + body.len() as u32;
            writer.write_pcapng_block(UnknownBlock::new(
                DECRYPTION_SECRETS_BLOCK,
                length,
                &body,
            ))?;
        }
        writer.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            // Timestamps in nanoseconds, as pcap-file writes them.
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })?;
        for packet in packets {
            let options = packet
                .comment
                .iter()
                .map(|comment| EnhancedPacketOption::Comment(comment.as_str().into()))
                .collect();
            writer.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: packet.at,
                original_len: packet.data.len() as u32,
                data: packet.data.as_slice().into(),
                options,
            })?;
        }
        Ok(writer.into_inner())
    }
}

#[derive(Clone, Copy)]
enum Flags {
    Syn,
    Ack,
    Push,
    Fin,
}

/// Where the synthesized segments of one direction's stream start: at every TPKT frame and
/// TLS record, so that each PDU is a packet of its own (Wireshark 4.0 dissects only the first
/// RDP PDU of a segment in places, e.g. a Demand Active behind a licensing PDU). When TLS
/// follows the X.224 exchange, the X.224 Connection Request and Confirm are also cut after
/// their third byte: Wireshark 4.0 otherwise hands the whole connection to its TPKT
/// dissector, which cannot read the TLS records that follow (fixed in later versions).
fn cut_points(stream: &[u8]) -> Vec<usize> {
    let tls = tls::tls_start(stream);
    let tls_follows = tls < stream.len();
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        cuts.push(at);
        let len = if at < tls {
            if tls_follows {
                cuts.push(at + 3);
            }
            stream
                .get(at + 2..at + 4)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        } else {
            stream
                .get(at + 3..at + 5)
                .map(|b| 5 + usize::from(u16::from_be_bytes([b[0], b[1]])))
        };
        match len {
            Some(len) if len > 0 => at += len,
            _ => break,
        }
    }
    cuts
}

/// `bytes`, which start at `start` in their stream, cut at `cuts` and at most [`SEGMENT`]
/// long.
fn split<'a>(bytes: &'a [u8], start: usize, cuts: &[usize]) -> Vec<(usize, &'a [u8])> {
    let end = start + bytes.len();
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&cut| cut > start && cut < end)
        .map(|cut| cut - start)
        .collect();
    bounds.push(bytes.len());
    let mut pieces = Vec::new();
    let mut from = 0;
    for to in bounds {
        let mut at = from;
        for piece in bytes[from..to].chunks(SEGMENT) {
            pieces.push((at, piece));
            at += piece.len();
        }
        from = to;
    }
    pieces
}

/// One IPv4 or IPv6 TCP segment between the two ends.
fn build(
    client: SocketAddr,
    server: SocketAddr,
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let (src, dst) = if from_client {
        (client, server)
    } else {
        (server, client)
    };
    let ip = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64)
        }
        (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), seq, 65_535);
    if let Some(ack) = ack {
        tcp = tcp.ack(ack);
    }
    tcp = match flags {
        Flags::Syn => tcp.syn(),
        Flags::Ack => tcp,
        Flags::Push => tcp.psh(),
        Flags::Fin => tcp.fin(),
    };
    let mut packet = Vec::with_capacity(tcp.size(payload.len()));
    // Writing into a Vec fails only for a payload too big for one IP packet, which
    // SEGMENT rules out.
    let _ = tcp.write(&mut packet, payload);
    packet
}

fn v6(addr: SocketAddr) -> [u8; 16] {
    match addr {
        SocketAddr::V6(a) => a.ip().octets(),
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
    }
}
