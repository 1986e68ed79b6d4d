//! The object's alarm: read, set and delete it. When it fires, the object's
//! sockets receive `{"type": "alarm", "time", "seq"}`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Error, InputField, Result};
use crate::object_ref::ObjectRef;

impl Client {
    /// The alarm's time in milliseconds since the Unix epoch, if one is set.
    pub async fn get_alarm(&self, object: impl Into<ObjectRef>) -> Result<Option<u64>> {
        let object = object.into();
        let path = self.route(&object)?.path("/alarm", "");
        let request = self.request("get_alarm", &object, Method::GET, path);
        self.execute_object(request, |reply| match reply.get("time") {
            None | Some(Value::Null) => Ok(None),
            Some(time) => time
                .as_f64()
                .filter(|t| *t >= 0.0)
                .map(|t| Some(t as u64))
                .ok_or_else(|| Error::InvalidResponse("alarm time is not a number".into())),
        })
        .await
    }

    /// Sets the alarm to `time_ms` (milliseconds since the Unix epoch).
    pub async fn set_alarm(&self, object: impl Into<ObjectRef>, time_ms: u64) -> Result<()> {
        const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
        if time_ms > MAX_SAFE_INTEGER {
            return Err(Error::invalid(
                InputField::Params,
                "alarm time is beyond JavaScript's safe integers",
            ));
        }
        let object = object.into();
        let path = self.route(&object)?.path("/alarm", "");
        let mut request = self.request("set_alarm", &object, Method::PUT, path);
        request.body = Some(
            serde_json::to_vec(&json!({ "time": time_ms }))
                .unwrap_or_default()
                .into(),
        );
        self.execute_unit(request).await
    }

    /// Deletes the alarm (no error when none was set).
    pub async fn delete_alarm(&self, object: impl Into<ObjectRef>) -> Result<()> {
        let object = object.into();
        let path = self.route(&object)?.path("/alarm", "");
        self.execute_unit(self.request("delete_alarm", &object, Method::DELETE, path))
            .await
    }
}
