//! Passwords are stored as argon2id PHC strings, never in clear.
//!
//! argon2id works in a 19 MiB block of memory per hash. One block is kept for the process
//! and reused: a fresh one each time would cost thousands of page faults per login, and
//! freeing it lets the allocator fragment so two end up resident. A function handles one
//! event at a time, so the lock is never contended there.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, OnceLock};

static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// Runs argon2 with `params` over the process's block of memory.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let mut memory = MEMORY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_ok()
}

/// argon2id, OWASP's parameters: m = 19 MiB, t = 2, p = 1; 16-byte salt, 32-byte hash.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt).expect("a generated salt decodes");
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let ok = compute(Algorithm::Argon2id, Version::V0x13, params.clone(), password, raw_salt, &mut out);
    assert!(ok, "argon2 with default parameters cannot fail");
    let output = Output::new(&out).expect("32 bytes is a valid output");
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    )
}

pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = parsed.version.and_then(|v| Version::try_from(v).ok()).unwrap_or_default();
    let mut raw_salt = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut raw_salt) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    compute(algorithm, version, params, password, raw_salt, &mut out)
        && Output::new(&out).is_ok_and(|computed| computed == expected) // constant time
}

/// Spends the same time as a real check when the login is unknown, so an unknown login
/// and a wrong password cannot be told apart by timing.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not-a-password-0"));
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_with_argon2id_and_verifies_only_the_right_password() {
        let phc = hash("correct horse 1");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse 1", &phc));
        assert!(!verify("correct horse 2", &phc));
        assert!(!verify("correct horse 1", "not a hash"));
    }

    #[test]
    fn interoperates_with_the_argon2_crates_own_phc_strings() {
        let ours = hash("pass-word-1");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pass-word-1", &parsed).is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"pass-word-2", &salt).unwrap().to_string();
        assert!(verify("pass-word-2", &theirs));
        assert!(!verify("pass-word-3", &theirs));
    }
}
