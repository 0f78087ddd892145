//! `serve` loads its configuration again on SIGHUP when the files are valid, keeps the loaded
//! one and says why when they are not, and its admin page compares what is loaded with the
//! files on disk (issue 12, fault 6).

use crate::support::app::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_a_valid_configuration_and_keeps_the_loaded_one_when_broken() {
    // At info, to see the reload's own line.
    let env = [("RUST_LOG", "info")];
    let app = TestApp::spawn_with_env("2027-05-10T10:00:00+02:00", true, &[], &env).await;
    let admin = app.login("admin").await;
    let page = admin.page("/admin").await;
    assert!(page.contains("Konfigurationen är giltig"), "{page}");
    assert!(
        page.contains("Filerna på disken är desamma som de inlästa"),
        "{page}"
    );

    // Broken on disk: the page says so, names the place, and what is loaded stays valid.
    let toml = app.setup.cfg.path().join("org.toml");
    let original = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{original}\n[[unit]]\nid = \"x\"\nparent = \n"),
    )
    .unwrap();
    let page = admin.page("/admin").await;
    assert!(
        page.contains("har ändrats sedan dess och är ogiltiga"),
        "{page}"
    );
    assert!(page.contains("org.toml:"), "the problem's place: {page}");
    assert!(
        page.contains("Den inlästa konfigurationen är giltig"),
        "{page}"
    );

    app.hangup();
    let refused = app
        .log_line(|l| l.contains("configuration not reloaded"))
        .await;
    let refused = refused.unwrap_or_else(|| panic!("{}", app.log_so_far()));
    assert!(refused.contains("org.toml:"), "{refused}");
    let page = admin.page("/admin").await;
    assert!(page.contains("avvisades"), "{page}");
    assert!(page.contains("Hemtjänst"), "the loaded units stay: {page}");

    // A valid change is shown as waiting, then taken by the next SIGHUP.
    std::fs::write(
        &toml,
        original.replace("name = \"Hemtjänst\"", "name = \"Hemtjänst Nord\""),
    )
    .unwrap();
    let page = admin.page("/admin").await;
    assert!(
        page.contains("har ändrats sedan dess och är giltiga"),
        "{page}"
    );
    assert!(!page.contains("Hemtjänst Nord"), "not before the reload");
    app.hangup();
    let reloaded = app.log_line(|l| l.contains("configuration reloaded")).await;
    assert!(reloaded.is_some(), "{}", app.log_so_far());
    let page = admin.page("/admin").await;
    assert!(page.contains("Hemtjänst Nord"), "{page}");
    assert!(
        page.contains("Filerna på disken är desamma som de inlästa"),
        "{page}"
    );
    assert!(!page.contains("avvisades"), "{page}");
    // Sessions live in the database, so a reload logs nobody out.
    let tasks = app.login("hanna").await.page("/granskningar").await;
    assert!(tasks.contains("Hemtjänst Nord"), "{tasks}");
    assert!(admin.page("/admin").await.contains("Hemtjänst Nord"));

    // A unit renamed while its task is open: after the reload the page names what it left.
    std::fs::write(
        &toml,
        original.replace("id = \"boende\"", "id = \"boendet\""),
    )
    .unwrap();
    let staff = app.setup.cfg.path().join("staff.csv");
    let csv = std::fs::read_to_string(&staff).unwrap();
    std::fs::write(&staff, csv.replace(",boende,", ",boendet,")).unwrap();
    app.hangup();
    let mut page = String::new();
    for _ in 0..200 {
        page = admin.page("/admin").await;
        if page.contains("Öppet arbete som saknas i konfigurationen") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        page.contains("<code>boende</code>: 1 öppen/öppna granskning(ar)"),
        "{page}\n{}",
        app.log_so_far()
    );
}
