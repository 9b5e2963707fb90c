//! What `sam deploy` ships, checked after `sam build --beta-features` (`make package`; CI runs
//! it once per run): every function of template.yaml has its `bootstrap`, an arm64 (aarch64)
//! Linux executable under the size limit. Ignored by `cargo test`: it needs that build.

use billing_tests::template::{functions, load};
use std::path::Path;

/// What one function's `bootstrap` may weigh (8.9–9.4 MB on 2026-12-03, with metrics and
/// Secrets Manager; docs/performance.md; a cold start pays for every page of it).
const BOOTSTRAP_LIMIT: u64 = 10_000_000;
const EM_AARCH64: u16 = 183;

/// What an ELF header says: 64-bit, little-endian, an executable for `e_machine`.
fn elf(bytes: &[u8]) -> Option<(bool, bool, u16, u16)> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
    let e_machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    Some((bytes[4] == 2, bytes[5] == 1, e_type, e_machine))
}

#[test]
#[ignore = "needs `sam build --beta-features` first: make package"]
fn every_function_of_the_template_is_built_as_an_arm64_bootstrap_under_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = root.join(".aws-sam/build");
    let built = std::fs::read_to_string(build.join("template.yaml")).expect("sam build's template.yaml");
    let template = load();
    let fns = functions(&template);
    assert!(fns.len() >= 10, "{} functions", fns.len());
    for (id, _) in fns {
        let bootstrap = build.join(&id).join("bootstrap");
        let bytes = std::fs::read(&bootstrap).unwrap_or_else(|e| panic!("{}: {e}", bootstrap.display()));
        // ET_EXEC (2) or ET_DYN (3, position-independent): either runs as the handler.
        let (is_64, little, e_type, machine) = elf(&bytes).unwrap_or_else(|| panic!("{id}: not an ELF file"));
        assert!(is_64 && little && (e_type == 2 || e_type == 3), "{id}: not a 64-bit little-endian executable");
        assert_eq!(machine, EM_AARCH64, "{id}: built for machine {machine}, not aarch64");
        let size = bytes.len() as u64;
        assert!(size < BOOTSTRAP_LIMIT, "{id}: {size} bytes, over {BOOTSTRAP_LIMIT}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&bootstrap).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{id}: bootstrap is not executable");
        }
        assert!(built.contains(&format!("CodeUri: {id}")), "{id}: sam's template does not ship it");
        eprintln!("{id}: aarch64 bootstrap, {:.2} MB", size as f64 / 1e6);
    }
}

#[test]
fn the_elf_check_tells_arm64_from_x86_64_and_from_anything_else() {
    let mut header = vec![0u8; 64];
    header[..4].copy_from_slice(b"\x7fELF");
    (header[4], header[5], header[16]) = (2, 1, 2);
    header[18..20].copy_from_slice(&EM_AARCH64.to_le_bytes());
    assert_eq!(elf(&header), Some((true, true, 2, EM_AARCH64)));
    header[18..20].copy_from_slice(&62u16.to_le_bytes());
    assert_eq!(elf(&header).map(|e| e.3), Some(62), "x86_64");
    assert_eq!(elf(b"#!/bin/sh\necho hi\n"), None);
    // The test binary itself: an ELF of this machine.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let expected = if cfg!(target_arch = "aarch64") { EM_AARCH64 } else { 62 };
    assert_eq!(elf(&me).map(|e| e.3), Some(expected));
}
