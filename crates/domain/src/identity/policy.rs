//! Password rules (spec/04): at least 10 characters, not one of the most common passwords, not the
//! e-mail address, at most 256 characters (argon2 input stays bounded).

/// Shortest accepted password.
pub const MIN_LEN: usize = 10;
/// Longest accepted password.
pub const MAX_LEN: usize = 256;

/// Frequently used passwords of 10 or more characters (from public breach-frequency lists), compared
/// case-insensitively.
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwertyuiop123",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "iloveyou12",
    "iloveyou123",
    "abcdefghij",
    "abcd123456",
    "abc1234567",
    "1111111111",
    "0000000000",
    "9876543210",
    "aaaaaaaaaa",
    "asdfghjkl1",
    "asdfghjkl;",
    "zxcvbnm123",
    "princess12",
    "football12",
    "baseball12",
    "welcome123",
    "welcome1234",
    "letmein123",
    "sunshine12",
    "changeme123",
    "administrator",
    "admin12345",
    "admin123456",
    "superadmin",
    "heartguard",
    "heartguard1",
    "heartguard123",
    "contraseña",
    "contrasena",
    "contraseña123",
    "contrasena123",
    "12345678901",
    "123123123123",
    "1234512345",
    "qazwsxedc123",
    "trustno1234",
    "michael123",
    "jennifer12",
    "monkey12345",
    "dragon12345",
    "master12345",
    "shadow12345",
    "superman123",
    "starwars123",
];

/// Why a new password is refused (a message for `details.fields`).
pub fn check(password: &str, email: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(format!("must have at least {MIN_LEN} characters"));
    }
    if len > MAX_LEN {
        return Err(format!("must have at most {MAX_LEN} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err("is one of the most common passwords; choose another".into());
    }
    if !email.is_empty() && lower == email.to_lowercase() {
        return Err("must not be the e-mail address".into());
    }
    if password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 4
    {
        return Err("uses too few different characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_trivial_passwords_are_refused() {
        assert!(check("short", "a@b.c").is_err());
        assert!(check("Password123", "a@b.c").is_err());
        assert!(check("a@b.example", "a@b.example").is_err());
        assert!(check("aaaaabbbbb", "a@b.c").is_err());
        assert!(check(&"x1".repeat(200), "a@b.c").is_err());
        assert!(check("correct horse battery", "a@b.c").is_ok());
    }
}
