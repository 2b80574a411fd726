//! # Reading `pgoutput`, protocol version 1
//!
//! A WAL-captured source's changes come from a logical replication slot decoded by
//! PostgreSQL's built-in `pgoutput` plugin (`pg_logical_slot_peek_binary_changes(…,
//! 'proto_version', '1', 'publication_names', …)`). Each row the function returns holds one
//! message of the logical replication protocol; this module turns one message into a
//! [`Message`]. Values arrive in text form (the plugin's default): each is the output of the
//! column type's output function, read back with the type's input function under the same
//! settings (see `src/wal.rs`).
//!
//! Messages (PostgreSQL documentation, "Logical Replication Message Formats"):
//!
//! ```text
//! B  final_lsn:u64 commit_ts:i64 xid:u32                      begin of a transaction
//! C  flags:u8 commit_lsn:u64 end_lsn:u64 commit_ts:i64        its commit
//! R  oid:u32 namespace:str name:str replident:u8 ncols:u16 { flags:u8 name:str type:u32 typmod:i32 }
//! I  oid:u32 'N' tuple
//! U  oid:u32 [ 'K' tuple | 'O' tuple ] 'N' tuple
//! D  oid:u32 ( 'K' | 'O' ) tuple
//! T  nrels:u32 options:u8 { oid:u32 }
//! tuple = ncols:u16 { 'n' | 'u' | 't' len:u32 bytes | 'b' len:u32 bytes }
//! ```
//!
//! `O` (origin), `Y` (type) and `M` (logical message) carry nothing a change buffer needs.

/// One value of a decoded row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// A TOASTed value an UPDATE did not change: the new row does not repeat it (with
    /// `REPLICA IDENTITY FULL`, the old row has it).
    Unchanged,
    Text(String),
}

/// A column of a `Relation` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    pub name: String,
    pub type_oid: u32,
}

/// Which old row an UPDATE or DELETE carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldRow {
    /// The whole row (`REPLICA IDENTITY FULL`).
    Full,
    /// Only the replica identity's key columns.
    Key,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        xid: u32,
    },
    Commit {
        commit_lsn: u64,
    },
    Relation {
        oid: u32,
        namespace: String,
        name: String,
        columns: Vec<RelationColumn>,
    },
    Insert {
        relation: u32,
        new: Vec<Value>,
    },
    Update {
        relation: u32,
        old: Option<(OldRow, Vec<Value>)>,
        new: Vec<Value>,
    },
    Delete {
        relation: u32,
        old: (OldRow, Vec<Value>),
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Origin, type and logical messages.
    Other,
}

/// A message that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pgoutput message: {0}")]
pub struct Malformed(pub String);

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Malformed(format!("{n} bytes wanted at offset {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A NUL-terminated string.
    fn str(&mut self) -> Result<String, Malformed> {
        let rest = &self.buf[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Malformed("unterminated string".into()))?;
        let s = String::from_utf8(rest[..len].to_vec())
            .map_err(|_| Malformed("string is not UTF-8".into()))?;
        self.pos += len + 1;
        Ok(s)
    }

    fn tuple(&mut self) -> Result<Vec<Value>, Malformed> {
        let n = self.u16()?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                b't' => {
                    let len = self.u32()? as usize;
                    let bytes = self.take(len)?;
                    Value::Text(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| Malformed("text value is not UTF-8".into()))?,
                    )
                }
                b'b' => return Err(Malformed("binary values were not requested".into())),
                k => return Err(Malformed(format!("tuple value kind {:?}", k as char))),
            });
        }
        Ok(out)
    }

    fn old_row(&mut self, kind: u8) -> Result<(OldRow, Vec<Value>), Malformed> {
        let which = match kind {
            b'O' => OldRow::Full,
            b'K' => OldRow::Key,
            k => return Err(Malformed(format!("old row kind {:?}", k as char))),
        };
        Ok((which, self.tuple()?))
    }
}

/// Parses one protocol message (the `data` column of one row of
/// `pg_logical_slot_peek_binary_changes`).
pub fn parse(data: &[u8]) -> Result<Message, Malformed> {
    let mut r = Reader { buf: data, pos: 0 };
    let msg = match r.u8()? {
        b'B' => {
            let final_lsn = r.u64()?;
            let _commit_ts = r.u64()?;
            let xid = r.u32()?;
            Message::Begin { final_lsn, xid }
        }
        b'C' => {
            let _flags = r.u8()?;
            let commit_lsn = r.u64()?;
            let _end_lsn = r.u64()?;
            let _ts = r.u64()?;
            Message::Commit { commit_lsn }
        }
        b'R' => {
            let oid = r.u32()?;
            let namespace = r.str()?;
            let name = r.str()?;
            let _replident = r.u8()?;
            let n = r.u16()?;
            let mut columns = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let _flags = r.u8()?;
                let name = r.str()?;
                let type_oid = r.u32()?;
                let _typmod = r.u32()?;
                columns.push(RelationColumn { name, type_oid });
            }
            Message::Relation {
                oid,
                namespace,
                name,
                columns,
            }
        }
        b'I' => {
            let relation = r.u32()?;
            match r.u8()? {
                b'N' => Message::Insert {
                    relation,
                    new: r.tuple()?,
                },
                k => return Err(Malformed(format!("insert tuple kind {:?}", k as char))),
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let mut kind = r.u8()?;
            let old = if kind == b'K' || kind == b'O' {
                let o = r.old_row(kind)?;
                kind = r.u8()?;
                Some(o)
            } else {
                None
            };
            if kind != b'N' {
                return Err(Malformed(format!("update tuple kind {:?}", kind as char)));
            }
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            let kind = r.u8()?;
            Message::Delete {
                relation,
                old: r.old_row(kind)?,
            }
        }
        b'T' => {
            let n = r.u32()?;
            let _options = r.u8()?;
            let mut relations = Vec::with_capacity(n as usize);
            for _ in 0..n {
                relations.push(r.u32()?);
            }
            Message::Truncate { relations }
        }
        b'O' | b'Y' | b'M' => Message::Other,
        k => return Err(Malformed(format!("message type {:?}", k as char))),
    };
    Ok(msg)
}

/// The full (64-bit) id of a transaction whose 32-bit id `xid` the decoder reported, given
/// the next full transaction id now (`pg_snapshot_xmax(pg_current_snapshot())`). A decoded
/// transaction has committed, so it is older than `next` and (with wraparound protection)
/// less than 2^31 transactions older: its epoch is the one that puts it just below `next`.
pub fn full_xid(xid: u32, next: u64) -> u64 {
    let back = (next as u32).wrapping_sub(xid) as u64;
    next.saturating_sub(back)
}

/// `pg_lsn` text (`16/B374D848`) of an LSN.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// The LSN of `pg_lsn` text.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(vals: &[Option<&str>]) -> Vec<u8> {
        let mut b = (vals.len() as u16).to_be_bytes().to_vec();
        for v in vals {
            match v {
                None => b.push(b'n'),
                Some("\u{0}u") => b.push(b'u'),
                Some(s) => {
                    b.push(b't');
                    b.extend((s.len() as u32).to_be_bytes());
                    b.extend(s.as_bytes());
                }
            }
        }
        b
    }

    #[test]
    fn begin_commit_relation() {
        let mut b = vec![b'B'];
        b.extend(0x1_0000_0010u64.to_be_bytes());
        b.extend(7u64.to_be_bytes());
        b.extend(4242u32.to_be_bytes());
        assert_eq!(
            parse(&b).unwrap(),
            Message::Begin {
                final_lsn: 0x1_0000_0010,
                xid: 4242
            }
        );
        let mut c = vec![b'C', 0];
        c.extend(99u64.to_be_bytes());
        c.extend(120u64.to_be_bytes());
        c.extend(5u64.to_be_bytes());
        assert_eq!(parse(&c).unwrap(), Message::Commit { commit_lsn: 99 });
        let mut r = vec![b'R'];
        r.extend(16384u32.to_be_bytes());
        r.extend(b"public\0we\"ird\0");
        r.push(b'f');
        r.extend(2u16.to_be_bytes());
        r.push(1);
        r.extend(b"id\0");
        r.extend(23u32.to_be_bytes());
        r.extend((-1i32).to_be_bytes());
        r.push(0);
        r.extend("naïve\0".as_bytes());
        r.extend(25u32.to_be_bytes());
        r.extend((-1i32).to_be_bytes());
        assert_eq!(
            parse(&r).unwrap(),
            Message::Relation {
                oid: 16384,
                namespace: "public".into(),
                name: "we\"ird".into(),
                columns: vec![
                    RelationColumn {
                        name: "id".into(),
                        type_oid: 23
                    },
                    RelationColumn {
                        name: "naïve".into(),
                        type_oid: 25
                    }
                ]
            }
        );
    }

    #[test]
    fn row_changes() {
        let mut i = vec![b'I'];
        i.extend(5u32.to_be_bytes());
        i.push(b'N');
        i.extend(tuple(&[Some("1"), None, Some("")]));
        assert_eq!(
            parse(&i).unwrap(),
            Message::Insert {
                relation: 5,
                new: vec![Value::Text("1".into()), Value::Null, Value::Text("".into())]
            }
        );
        let mut u = vec![b'U'];
        u.extend(5u32.to_be_bytes());
        u.push(b'O');
        u.extend(tuple(&[Some("1"), Some("big")]));
        u.push(b'N');
        u.extend(tuple(&[Some("2"), Some("\u{0}u")]));
        assert_eq!(
            parse(&u).unwrap(),
            Message::Update {
                relation: 5,
                old: Some((
                    OldRow::Full,
                    vec![Value::Text("1".into()), Value::Text("big".into())]
                )),
                new: vec![Value::Text("2".into()), Value::Unchanged]
            }
        );
        // Without an old row (identity unchanged under REPLICA IDENTITY DEFAULT).
        let mut u = vec![b'U'];
        u.extend(5u32.to_be_bytes());
        u.push(b'N');
        u.extend(tuple(&[Some("2")]));
        assert!(matches!(
            parse(&u).unwrap(),
            Message::Update { old: None, .. }
        ));
        let mut d = vec![b'D'];
        d.extend(5u32.to_be_bytes());
        d.push(b'K');
        d.extend(tuple(&[Some("1")]));
        assert_eq!(
            parse(&d).unwrap(),
            Message::Delete {
                relation: 5,
                old: (OldRow::Key, vec![Value::Text("1".into())])
            }
        );
        let mut t = vec![b'T'];
        t.extend(2u32.to_be_bytes());
        t.push(0);
        t.extend(5u32.to_be_bytes());
        t.extend(6u32.to_be_bytes());
        assert_eq!(
            parse(&t).unwrap(),
            Message::Truncate {
                relations: vec![5, 6]
            }
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"B\x00\x01",
            b"Z",
            b"I\x00\x00\x00\x05X",
            b"I\x00\x00\x00\x05N\x00\x01t\xff\xff\xff\xff",
            b"R\x00\x00\x00\x01public",
            b"D\x00\x00\x00\x05Q\x00\x00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn full_xids_and_lsns() {
        assert_eq!(full_xid(100, 150), 100);
        // Across an epoch boundary: next is in epoch 1, the xid just before it in epoch 0.
        let next = (1u64 << 32) + 5;
        assert_eq!(full_xid(u32::MAX - 2, next), (1u64 << 32) - 3);
        assert_eq!(full_xid(3, next), (1u64 << 32) + 3);
        assert_eq!(lsn_text(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("x"), None);
    }
}
