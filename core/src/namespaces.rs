//! Object ids: a new unique id, or the id a name maps to.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::validate;

impl Client {
    /// A new unique object id (`newUniqueId`) in `namespace` (the client's
    /// default when `None`), optionally restricted to a jurisdiction.
    pub async fn new_unique_id(
        &self,
        namespace: Option<&str>,
        jurisdiction: Option<&str>,
    ) -> Result<String> {
        let ns = self.namespace_or_default(namespace);
        let prefix = format!("/ns/{}", validate::namespace(&ns)?);
        let body = match jurisdiction {
            Some(j) => json!({ "jurisdiction": validate::hint("jurisdiction", j)? }),
            None => json!({}),
        };
        let mut request = self.request_labelled(
            "new_unique_id",
            ns.clone(),
            Method::POST,
            format!("{prefix}/new-id"),
        );
        request.body = Some(body.to_string().into_bytes().into());
        self.execute_object(request, |mut reply| hex_id(reply.remove("id")))
            .await
    }

    /// The id the name maps to in `namespace` (`idFromName`): the original
    /// library's `get_namespace_object`.
    pub async fn namespace_object_id(&self, namespace: Option<&str>, name: &str) -> Result<String> {
        let ns = self.namespace_or_default(namespace);
        let path = format!(
            "/namespace/{}/id/{}",
            validate::namespace(&ns)?,
            validate::object_name(name)?
        );
        let request = self.request_labelled(
            "namespace_object_id",
            format!("{ns}/{name}"),
            Method::GET,
            path,
        );
        self.execute_object(request, |mut reply| hex_id(reply.remove("id")))
            .await
    }

    fn namespace_or_default(&self, namespace: Option<&str>) -> String {
        namespace
            .or(self.config().default_namespace.as_deref())
            .unwrap_or("default")
            .to_owned()
    }
}

fn hex_id(id: Option<Value>) -> Result<String> {
    match id {
        Some(Value::String(id)) => validate::object_id(&id)
            .map_err(|_| Error::InvalidResponse(format!("{id:?} is not an object id"))),
        _ => Err(Error::InvalidResponse("reply has no string \"id\"".into())),
    }
}
