//! How a call names its object: a namespace, a name or a hex id, and the
//! platform's placement hints.

use crate::error::Result;
use crate::validate;

/// Which object of which namespace. A plain `&str` converts to an object
/// addressed by name in the client's default namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    namespace: Option<String>,
    address: Address,
    jurisdiction: Option<String>,
    location_hint: Option<String>,
}

/// How an object is addressed inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// By name (`idFromName`).
    Name(String),
    /// By a 64-hex-digit id (`idFromString`), from `new_unique_id` or
    /// `namespace_object_id`.
    Id(String),
}

impl ObjectRef {
    /// The object called `name`.
    pub fn name(name: impl Into<String>) -> Self {
        ObjectRef {
            namespace: None,
            address: Address::Name(name.into()),
            jurisdiction: None,
            location_hint: None,
        }
    }

    /// The object with this hex id.
    pub fn id(hex: impl Into<String>) -> Self {
        ObjectRef {
            address: Address::Id(hex.into()),
            ..ObjectRef::name("")
        }
    }

    /// In namespace `namespace` instead of the client's default.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Restricts the object to a jurisdiction (`eu`, `fedramp`).
    pub fn jurisdiction(mut self, jurisdiction: impl Into<String>) -> Self {
        self.jurisdiction = Some(jurisdiction.into());
        self
    }

    /// Hints where a new object should be placed (`wnam`, `enam`, `weur`, …).
    pub fn location_hint(mut self, hint: impl Into<String>) -> Self {
        self.location_hint = Some(hint.into());
        self
    }

    /// The address inside the namespace.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The namespace, when one was set.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// A short label for events and logs: the name, or `id:<hex>`, prefixed
    /// by the namespace when one was set.
    pub fn label(&self) -> String {
        let object = match &self.address {
            Address::Name(name) => name.clone(),
            Address::Id(hex) => format!("id:{hex}"),
        };
        match &self.namespace {
            Some(ns) => format!("{ns}/{object}"),
            None => object,
        }
    }

    /// Checks everything and returns the encoded route prefix
    /// (`[/ns/{ns}]/object/{name}` or `[/ns/{ns}]/id/{hex}`) and the query
    /// string of the hints (empty or starting with `&`).
    pub(crate) fn route(&self, default_namespace: Option<&str>) -> Result<ObjectRoute> {
        let ns = namespace_prefix(self.namespace.as_deref().or(default_namespace))?;
        let object = match &self.address {
            Address::Name(name) => format!("/object/{}", validate::object_name(name)?),
            Address::Id(hex) => format!("/id/{}", validate::object_id(hex)?),
        };
        let mut hints = String::new();
        for (field, value) in [
            ("jurisdiction", &self.jurisdiction),
            ("location_hint", &self.location_hint),
        ] {
            if let Some(value) = value {
                hints.push_str(&format!("&{field}={}", validate::hint(field, value)?));
            }
        }
        Ok(ObjectRoute { ns, object, hints })
    }
}

/// The encoded pieces of an object's routes.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRoute {
    /// `""` or `/ns/{namespace}`.
    pub ns: String,
    /// `/object/{name}` or `/id/{hex}`.
    pub object: String,
    /// `""` or `&jurisdiction=…&location_hint=…`.
    pub hints: String,
}

impl ObjectRoute {
    /// The full path of `rest` under this object, with the hints and any
    /// extra query (`extra` is empty or starts with `&`).
    pub(crate) fn path(&self, rest: &str, extra: &str) -> String {
        let mut path = String::with_capacity(
            self.ns.len() + self.object.len() + rest.len() + self.hints.len() + extra.len(),
        );
        path.push_str(&self.ns);
        path.push_str(&self.object);
        path.push_str(rest);
        push_query(&mut path, &self.hints, extra);
        path
    }
}

/// Appends `a` and `b` (each empty or starting with `&`) as a query string.
pub(crate) fn query(mut path: String, a: &str, b: &str) -> String {
    push_query(&mut path, a, b);
    path
}

/// [`query`] in place.
fn push_query(path: &mut String, a: &str, b: &str) {
    let (first, second) = if a.is_empty() { (b, "") } else { (a, b) };
    if let Some(first) = first.strip_prefix('&') {
        path.push('?');
        path.push_str(first);
        path.push_str(second);
    }
}

/// `""` for no namespace (or `default`), else `/ns/{namespace}`.
pub(crate) fn namespace_prefix(namespace: Option<&str>) -> Result<String> {
    match namespace {
        None | Some("default") => Ok(String::new()),
        Some(ns) => Ok(format!("/ns/{}", validate::namespace(ns)?)),
    }
}

impl From<&str> for ObjectRef {
    fn from(name: &str) -> Self {
        ObjectRef::name(name)
    }
}

impl From<String> for ObjectRef {
    fn from(name: String) -> Self {
        ObjectRef::name(name)
    }
}

impl From<&String> for ObjectRef {
    fn from(name: &String) -> Self {
        ObjectRef::name(name.clone())
    }
}

impl From<&ObjectRef> for ObjectRef {
    fn from(object: &ObjectRef) -> Self {
        object.clone()
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let plain = ObjectRef::from("a/b").route(None).unwrap();
        assert_eq!(plain.path("/state", ""), "/object/a%2Fb/state");
        let full = ObjectRef::id("ab".repeat(32))
            .in_namespace("sql")
            .location_hint("weur")
            .route(None)
            .unwrap();
        assert_eq!(
            full.path("/storage/list", "&limit=5"),
            format!(
                "/ns/sql/id/{}/storage/list?location_hint=weur&limit=5",
                "ab".repeat(32)
            )
        );
        assert!(ObjectRef::id("xyz").route(None).is_err());
        assert!(ObjectRef::name("x")
            .in_namespace("Bad-NS")
            .route(None)
            .is_err());
        assert_eq!(ObjectRef::name("x").route(Some("default")).unwrap().ns, "");
    }
}
