//! Where a spec's path points, from its text (`mlsys_compiler::paths::reach`).

use mlsys_compiler::paths::{PathReach, reach};

#[test]
fn paths_are_placed_by_their_text() {
    let cases = [
        ("data/raw/payments", PathReach::Inside),
        ("./data/../data/x", PathReach::Inside),
        (".", PathReach::Inside),
        ("data/../..", PathReach::Escapes),
        ("../../..", PathReach::Escapes),
        ("data\\..\\..\\x", PathReach::Escapes),
        ("/etc", PathReach::Machine),
        ("C:\\data", PathReach::Machine),
        ("file:///var/data", PathReach::Machine),
        ("s3://lake/orders", PathReach::Remote),
    ];
    for (path, expected) in cases {
        assert_eq!(reach(path), expected, "{path}");
    }
}
