//! Every manifest shipped in scenarios/ parses without errors or warnings.

use std::path::Path;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_manifest_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(!files.is_empty());
    let mut pods = 0;
    let mut pools = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        if text.contains("kind: NodePool") {
            let (p, w) = nodepack_formats::read_nodepools(&name, &text).unwrap();
            assert!(w.is_empty(), "{name}: {w:?}");
            pools += p.len();
        } else if text.contains("kind: ") && !text.contains("horizon") {
            let wl = nodepack_formats::read_workload(&name, &text).unwrap();
            assert!(wl.warnings.is_empty(), "{name}: {:?}", wl.warnings);
            pods += wl.pending.len();
        }
    }
    assert!(pods > 0 && pools > 0, "pods {pods}, pools {pools}");
}
