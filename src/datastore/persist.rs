//! Everything the datastore keeps on disk, written atomically: a temp file, fsync,
//! rename over the old one, fsync the directory. A `kill -9` at any instant leaves
//! the old or the new file, never a torn one.
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// Files of the state directory.
pub struct StateDir {
    pub root: PathBuf,
}

/// The commit the rollback history remembers.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRecord {
    pub id: u32,
    pub time: DateTime<Utc>,
    pub user: String,
    pub face: String,
    pub comment: String,
    pub confirmed: bool,
}

/// How many commits the rollback history keeps.
pub const HISTORY_LEN: usize = 50;

impl StateDir {
    pub fn open(root: &Path) -> std::io::Result<StateDir> {
        fs::create_dir_all(root.join("history"))?;
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    /// The boot configuration (the startup datastore).
    pub fn startup(&self) -> PathBuf {
        self.root.join("startup.xml")
    }

    /// Present only while a confirmed commit waits for confirmation: the
    /// configuration to return to if it never comes (also across a restart).
    pub fn confirmed(&self) -> PathBuf {
        self.root.join("confirmed-rollback.xml")
    }

    fn history_file(&self, id: u32, ext: &str) -> PathBuf {
        self.root.join("history").join(format!("{id:08}.{ext}"))
    }

    /// Records a commit: its configuration, then its metadata (the metadata file's
    /// presence marks the record complete).
    pub fn push_history(&self, rec: &CommitRecord, config: &str) -> std::io::Result<()> {
        write_atomic(&self.history_file(rec.id, "xml"), config.as_bytes())?;
        let meta = format!(
            "time={}\nuser={}\nface={}\nconfirmed={}\ncomment={}\n",
            rec.time.to_rfc3339(),
            one_line(&rec.user),
            rec.face,
            rec.confirmed,
            one_line(&rec.comment)
        );
        write_atomic(&self.history_file(rec.id, "meta"), meta.as_bytes())?;
        // Keep the newest HISTORY_LEN.
        let ids = self.history_ids();
        if ids.len() > HISTORY_LEN {
            for old in &ids[..ids.len() - HISTORY_LEN] {
                let _ = fs::remove_file(self.history_file(*old, "meta"));
                let _ = fs::remove_file(self.history_file(*old, "xml"));
            }
        }
        Ok(())
    }

    fn history_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = fs::read_dir(self.root.join("history"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".meta")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The complete records, oldest first.
    pub fn history(&self) -> Vec<CommitRecord> {
        self.history_ids()
            .into_iter()
            .filter_map(|id| {
                let text = fs::read_to_string(self.history_file(id, "meta")).ok()?;
                let field = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                        .unwrap_or("")
                        .to_string()
                };
                Some(CommitRecord {
                    id,
                    time: DateTime::parse_from_rfc3339(&field("time"))
                        .ok()?
                        .with_timezone(&Utc),
                    user: field("user"),
                    face: field("face"),
                    comment: field("comment"),
                    confirmed: field("confirmed") == "true",
                })
            })
            .collect()
    }

    pub fn history_config(&self, id: u32) -> Option<String> {
        fs::read_to_string(self.history_file(id, "xml")).ok()
    }
}

/// The first line of a startup file written by a commit: the commit's record,
/// so that a crash between the startup file and the history record loses
/// neither (the boot writes the missing record).
const RECORD_MARK: &str = "<!-- lifeline-commit ";

/// A configuration text headed by its commit's record.
pub fn with_record(rec: &CommitRecord, config: &str) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "{RECORD_MARK}id={} time={} user={} face={} confirmed={} comment={} -->\n{config}",
        rec.id,
        rec.time.to_rfc3339(),
        b64(&rec.user),
        b64(&rec.face),
        rec.confirmed,
        b64(&rec.comment)
    )
}

/// The commit record heading a configuration text, if any.
pub fn read_record(text: &str) -> Option<CommitRecord> {
    use base64::Engine as _;
    let line = text.lines().next()?.strip_prefix(RECORD_MARK)?;
    let line = line.strip_suffix("-->")?.trim();
    let field = |k: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
    };
    let text_of = |k: &str| -> Option<String> {
        let b = base64::engine::general_purpose::STANDARD
            .decode(field(k)?)
            .ok()?;
        String::from_utf8(b).ok()
    };
    Some(CommitRecord {
        id: field("id")?.parse().ok()?,
        time: DateTime::parse_from_rfc3339(field("time")?)
            .ok()?
            .with_timezone(&Utc),
        user: text_of("user")?,
        face: text_of("face")?,
        comment: text_of("comment")?,
        confirmed: field("confirmed")? == "true",
    })
}

/// A configuration text without its record line.
pub fn strip_record(text: &str) -> &str {
    match text.strip_prefix(RECORD_MARK) {
        Some(rest) => rest.split_once('\n').map_or("", |(_, r)| r),
        None => text,
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Writes `data` to `path` so that a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Removes a file and makes the removal durable.
pub fn remove_durable(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_head_their_configuration() {
        let rec = CommitRecord {
            id: 7,
            time: DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            user: "o'brien x".into(),
            face: "cli".into(),
            comment: "two\nlines -->".into(),
            confirmed: true,
        };
        let text = with_record(&rec, "<config/>\n");
        assert_eq!(read_record(&text), Some(rec));
        assert_eq!(strip_record(&text), "<config/>\n");
        assert_eq!(read_record("<config/>"), None);
        assert_eq!(strip_record("<config/>"), "<config/>");
    }

    #[test]
    fn history_keeps_the_newest_records() {
        let dir = std::env::temp_dir().join(format!("ll-persist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let sd = StateDir::open(&dir).unwrap();
        for id in 1..=(HISTORY_LEN as u32 + 3) {
            let rec = CommitRecord {
                id,
                time: Utc::now(),
                user: "admin".into(),
                face: "netconf".into(),
                comment: format!("c{id}\nsecond line"),
                confirmed: false,
            };
            sd.push_history(&rec, "<x/>").unwrap();
        }
        let h = sd.history();
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0].id, 4);
        assert_eq!(
            h.last().unwrap().comment,
            format!("c{} second line", HISTORY_LEN + 3)
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
