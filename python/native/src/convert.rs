//! Python objects to `serde_json::Value` and back, walked directly in Rust
//! (no `json` module round trip). Anything that is not JSON is refused with
//! the path of the offending value, before anything is sent.

use std::fmt::Write;

use cloudflare_durable::serde_json::{Map, Number, Value};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

/// Deepest nesting accepted (also how a reference cycle is caught).
const MAX_DEPTH: usize = 200;

/// Converts a Python value to JSON; `root` names it in error messages
/// (`params`, `state`, …), e.g. `params["a"][2]`.
pub fn to_json(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    let mut path = String::from(root);
    walk(obj, &mut path, 0)
}

/// Checks and converts a value as the package does before sending it
/// (used by tests and by callers who want to validate early).
#[pyfunction]
#[pyo3(signature = (value, name = "value"))]
pub fn to_json_value(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Json> {
    to_json(value, name).map(Json)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn walk(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path} is nested more than {MAX_DEPTH} levels deep (a reference cycle?)"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{path} is the integer {obj}, outside the 64-bit range a JSON number can carry here"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            PyValueError::new_err(format!("{path} is {v}, which JSON cannot represent"))
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_cow() {
            Ok(text) => Ok(Value::String(text.into_owned())),
            Err(_) => Err(PyValueError::new_err(format!(
                "{path} is a str that is not valid Unicode (lone surrogate)"
            ))),
        };
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{path} has a key {} of type {}; JSON object keys must be str",
                    key.repr().map(|r| r.to_string()).unwrap_or_default(),
                    type_name(&key)
                )));
            };
            let key = key.to_cow().map_err(|_| {
                PyValueError::new_err(format!("{path} has a key that is not valid Unicode"))
            })?;
            let len = path.len();
            let _ = write!(path, "[{}]", Value::String(key.to_string()));
            let converted = walk(&value, path, depth + 1)?;
            path.truncate(len);
            map.insert(key.into_owned(), converted);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return sequence(list.iter(), list.len(), path, depth);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return sequence(tuple.iter(), tuple.len(), path, depth);
    }
    Err(PyTypeError::new_err(format!(
        "{path} is of type {}, which is not JSON (use dict, list, tuple, str, int, float, bool or None)",
        type_name(obj)
    )))
}

fn sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    len: usize,
    path: &mut String,
    depth: usize,
) -> PyResult<Value> {
    let mut out = Vec::with_capacity(len);
    for (i, item) in items.enumerate() {
        let before = path.len();
        let _ = write!(path, "[{i}]");
        out.push(walk(&item, path, depth + 1)?);
        path.truncate(before);
    }
    Ok(Value::Array(out))
}

/// Builds the Python object for a JSON value (dict, list, str, int, float,
/// bool, None).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => Ok(PyString::new(py, s).into_any()),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(PyString::new(py, k), to_py(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// A JSON value on its way to Python.
pub struct Json(pub Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        to_py(py, &self.0)
    }
}

/// A batch of JSON messages on its way to Python (a list).
pub struct JsonBatch(pub Vec<Value>);

impl<'py> IntoPyObject<'py> for JsonBatch {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        let list = PyList::empty(py);
        for item in &self.0 {
            list.append(to_py(py, item)?)?;
        }
        Ok(list.into_any())
    }
}

/// A state map on its way to Python (a dict).
pub struct JsonMap(pub Map<String, Value>);

impl<'py> IntoPyObject<'py> for JsonMap {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        to_py(py, &Value::Object(self.0))
    }
}
