//! A real OpenLDAP server for one test: its own folder, configuration (the mdb backend)
//! and port on loopback, seeded with `slapadd`, stopped when dropped. Changes go through
//! `ldapmodify`, as a directory administrator's would.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUFFIX: &str = "dc=example,dc=se";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=se";
pub const PASSWORD: &str = "katalog-test-lösen";

pub struct Slapd {
    pub url: String,
    /// The configuration and the database, removed after the server is stopped.
    _dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The program, from PATH or from /usr/sbin where Debian puts it (not on a user's PATH).
fn program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        return sbin;
    }
    PathBuf::from(name)
}

impl Slapd {
    /// A server holding the base entries, `ou=people` and the entries of `people_ldif`.
    pub fn start(people_ldif: &str) -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {dir}/slapd.pid\n\
                 argsfile {dir}/slapd.args\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"{ADMIN_DN}\"\n\
                 rootpw {PASSWORD}\n\
                 directory {data}\n",
                dir = dir.path().display(),
                data = data.display()
            ),
        )
        .unwrap();
        let seed = dir.path().join("seed.ldif");
        std::fs::write(
            &seed,
            format!(
                "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n\
                 o: Testkommunen\n\ndn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\n\
                 ou: people\n\n{people_ldif}"
            ),
        )
        .unwrap();
        let out = Command::new(program("slapadd"))
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&seed)
            .output()
            .expect("slapadd runs (apt-get install slapd ldap-utils)");
        super::assert_ran(&out, "slapadd");
        // A free port: bound and let go; slapd takes it at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("ldap://127.0.0.1:{port}");
        // `-d 0`: in the foreground, so the test owns the process and kills it on drop.
        let child = Command::new(program("slapd"))
            .arg("-h")
            .arg(format!("{url}/"))
            .arg("-f")
            .arg(&conf)
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        let server = Slapd {
            url,
            _dir: dir,
            child,
        };
        server.wait_until_it_answers(port);
        server
    }

    fn wait_until_it_answers(&self, port: u16) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "slapd does not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Applies an LDIF of changes (`changetype: add|modify|delete`) as the administrator.
    pub fn modify(&self, ldif: &str) {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url, "-D", ADMIN_DN, "-w", PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapmodify runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
