//! Channel names as users write them, and the POSIX object each one is.
//!
//! A channel is named the way a service is (`"jobs"`, `"robot/arm/state"`);
//! its object in `/dev/shm` is [`NAME_PREFIX`] followed by that name with
//! `%` written `%25` and `/` written `%2F` (an object name has no `/`), so
//! the mapping is undone exactly ([`channel_name`]) and `ipckit ls` shows
//! the name the user gave. One leading `/` and the prefix itself are
//! optional in what users write: `"jobs"`, `"/jobs"`, `"ipckit-jobs"` and
//! `"/ipckit-jobs"` are the one channel `/dev/shm/ipckit-jobs` (so names
//! written before the prefix was added for the user keep working).

use super::NAME_PREFIX;
use crate::error::{Error, Result};
use crate::shm::ShmName;

/// The shared-memory object of the channel `name` (module docs), or
/// [`Error::InvalidName`] naming it: empty, a NUL byte, or too long for an
/// object name once mapped.
///
/// ```
/// use ipckit::channel::object_name;
///
/// assert_eq!(object_name("jobs")?.as_str(), "/ipckit-jobs");
/// assert_eq!(object_name("ipckit-jobs")?.as_str(), "/ipckit-jobs");
/// assert_eq!(object_name("robot/arm/state")?.as_str(), "/ipckit-robot%2Farm%2Fstate");
/// assert!(object_name("").is_err());
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn object_name(name: &str) -> Result<ShmName> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bare = bare.strip_prefix(NAME_PREFIX).unwrap_or(bare);
    if bare.is_empty() {
        return Err(Error::InvalidName {
            name: shown(name),
            reason: "an empty channel name",
        });
    }
    let mut object = String::with_capacity(NAME_PREFIX.len() + bare.len() + 8);
    object.push_str(NAME_PREFIX);
    for c in bare.chars() {
        match c {
            '%' => object.push_str("%25"),
            '/' => object.push_str("%2F"),
            c => object.push(c),
        }
    }
    ShmName::new(&object).map_err(|e| match e {
        Error::InvalidName { reason, .. } => Error::InvalidName {
            name: shown(name),
            reason,
        },
        other => other,
    })
}

/// The channel name users gave the object `object` (with or without its
/// leading `/`): the mapping of [`object_name`] undone. `None` for an
/// object that is not a channel's (no [`NAME_PREFIX`], or an escape that
/// [`object_name`] does not write).
///
/// ```
/// use ipckit::channel::channel_name;
///
/// assert_eq!(channel_name("ipckit-robot%2Farm%2Fstate").as_deref(), Some("robot/arm/state"));
/// assert_eq!(channel_name("/ipckit-jobs").as_deref(), Some("jobs"));
/// assert_eq!(channel_name("jobs"), None);
/// ```
pub fn channel_name(object: &str) -> Option<String> {
    let bare = object.strip_prefix('/').unwrap_or(object);
    let mut rest = bare.strip_prefix(NAME_PREFIX)?;
    let mut name = String::with_capacity(rest.len());
    while let Some(at) = rest.find('%') {
        name.push_str(&rest[..at]);
        let c = match rest.get(at..at + 3)? {
            "%25" => '%',
            "%2F" => '/',
            _ => return None,
        };
        name.push(c);
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    (!name.is_empty()).then_some(name)
}

/// At most 64 characters of a name, for an error.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_objects_and_back() {
        for (name, object) in [
            ("jobs", "/ipckit-jobs"),
            ("/jobs", "/ipckit-jobs"),
            ("ipckit-jobs", "/ipckit-jobs"),
            ("/ipckit-jobs", "/ipckit-jobs"),
            ("robot/arm/state", "/ipckit-robot%2Farm%2Fstate"),
            ("/robot/arm", "/ipckit-robot%2Farm"),
            ("100%", "/ipckit-100%25"),
            ("a%2Fb", "/ipckit-a%252Fb"),
            ("ünïcode", "/ipckit-ünïcode"),
        ] {
            let mapped = object_name(name).unwrap();
            assert_eq!(mapped.as_str(), object, "{name}");
            let back = channel_name(mapped.as_str()).unwrap();
            // The prefix and one leading '/' are optional in what users write.
            let bare = name.strip_prefix('/').unwrap_or(name);
            assert_eq!(back, bare.strip_prefix(NAME_PREFIX).unwrap_or(bare));
            assert_eq!(object_name(&back).unwrap().as_str(), object);
        }
    }

    #[test]
    fn bad_names_are_errors_that_name_them() {
        let long = "x".repeat(300);
        for name in ["", "/", "ipckit-", "/ipckit-", "a\0b", long.as_str()] {
            match object_name(name) {
                Err(Error::InvalidName { name: shown, .. }) => {
                    assert!(name.starts_with(&shown), "{name:?} shown as {shown:?}")
                }
                other => panic!("{name:?}: {other:?}"),
            }
        }
        // What `object_name` never writes is no channel's object.
        for object in [
            "jobs",
            "ipckit-",
            "ipckit-a%2",
            "ipckit-a%41",
            "/dev-ipckit-x",
        ] {
            assert_eq!(channel_name(object), None, "{object}");
        }
    }
}
