//! JSON values → Arrow arrays, one column at a time, following a [`Ty`]. A missing field or a
//! JSON null is a null; a value of another type than the schema says, or an object key the
//! schema does not know, is an error (the schema fell behind the record types).

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, StructArray, TimestampMicrosecondArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::Field;
use serde_json::Value;

use super::schema::Ty;
use crate::output::error::ColumnError;

/// The column of `ty` over `vals` (`None`: the field is absent from that record).
pub fn build(ty: &Ty, vals: &[Option<&Value>]) -> Result<ArrayRef, ColumnError> {
    fn present<'a>(v: &Option<&'a Value>) -> Option<&'a Value> {
        v.filter(|v| !v.is_null())
    }
    Ok(match ty {
        Ty::Ts | Ty::TsSecs => {
            let mut micros = Vec::with_capacity(vals.len());
            for v in vals {
                micros.push(match present(v) {
                    None => None,
                    // µs-precise seconds: rounding recovers the exact µs count.
                    Some(v) if matches!(ty, Ty::Ts) => {
                        Some((v.as_f64().ok_or_else(|| bad("time", v))? * 1e6).round() as i64)
                    }
                    Some(v) => {
                        Some(v.as_i64().ok_or_else(|| bad("time", v))?.saturating_mul(1_000_000))
                    }
                });
            }
            Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"))
        }
        Ty::F64 => {
            let mut b = Float64Builder::with_capacity(vals.len());
            for v in vals {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_f64().ok_or_else(|| bad("float", v))?),
                }
            }
            Arc::new(b.finish())
        }
        Ty::I64 => {
            let mut b = Int64Builder::with_capacity(vals.len());
            for v in vals {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_i64().ok_or_else(|| bad("integer", v))?),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Str | Ty::Json => {
            let mut b = StringBuilder::with_capacity(vals.len(), vals.len() * 16);
            for v in vals {
                match (present(v), ty) {
                    (None, _) => b.append_null(),
                    (Some(Value::String(s)), Ty::Str) => b.append_value(s),
                    (Some(v), Ty::Json) => b.append_value(v.to_string()),
                    (Some(v), _) => return Err(bad("string", v)),
                }
            }
            Arc::new(b.finish())
        }
        Ty::List(item) => {
            let mut offsets = Vec::with_capacity(vals.len() + 1);
            offsets.push(0i32);
            let mut valid = Vec::with_capacity(vals.len());
            let mut items: Vec<Option<&Value>> = Vec::new();
            for v in vals {
                match present(v) {
                    None => valid.push(false),
                    Some(Value::Array(a)) => {
                        items.extend(a.iter().map(Some));
                        valid.push(true);
                    }
                    Some(v) => return Err(bad("array", v)),
                }
                let end = i32::try_from(items.len()).map_err(|_| ColumnError::ListTooLong)?;
                offsets.push(end);
            }
            let child = build(item, &items)?;
            let field = Arc::new(Field::new("item", item.data_type(), true));
            let list = ListArray::try_new(
                field,
                OffsetBuffer::new(offsets.into()),
                child,
                Some(NullBuffer::from(valid)),
            )?;
            Arc::new(list)
        }
        Ty::Struct(fields) => {
            let mut valid = Vec::with_capacity(vals.len());
            for v in vals {
                match present(v) {
                    None | Some(Value::Object(_)) => valid.push(present(v).is_some()),
                    Some(v) => return Err(bad("object", v)),
                }
            }
            // Keys found per row: fewer than the object holds means a key the schema lacks
            // (counted, not searched, to keep this linear in the fields).
            let mut found = vec![0usize; vals.len()];
            let mut columns = Vec::with_capacity(fields.len());
            let mut child: Vec<Option<&Value>> = Vec::with_capacity(vals.len());
            for (name, t) in fields {
                child.clear();
                for (v, n) in vals.iter().zip(&mut found) {
                    let c = present(v).and_then(|v| v.get(*name));
                    *n += usize::from(c.is_some());
                    child.push(c);
                }
                columns.push(build(t, &child)?);
            }
            for (v, n) in vals.iter().zip(&found) {
                if let Some(Value::Object(o)) = present(v)
                    && o.len() != *n
                {
                    let k = o.keys().find(|k| !fields.iter().any(|(f, _)| f == k));
                    return Err(ColumnError::UnknownField(k.map_or("?", |k| k).to_owned()));
                }
            }
            let s = StructArray::try_new(ty.fields(), columns, Some(NullBuffer::from(valid)))?;
            Arc::new(s)
        }
    })
}

fn bad(want: &'static str, v: &Value) -> ColumnError {
    let mut found = v.to_string();
    found.truncate(80);
    ColumnError::Mismatch { want, found }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};
    use serde_json::json;

    #[test]
    fn nested_lists_and_nulls() {
        let ty = Ty::Struct(vec![
            ("n", Ty::I64),
            ("xs", Ty::List(Box::new(Ty::Struct(vec![("a", Ty::Str)])))),
        ]);
        let rows = [json!({"n": 1, "xs": [{"a": "p"}, {"a": "q"}]}), json!({"xs": []})];
        let vals: Vec<Option<&Value>> = rows.iter().map(Some).collect();
        let a = build(&ty, &vals).unwrap();
        let s = a.as_any().downcast_ref::<StructArray>().unwrap();
        let n = s.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!((n.value(0), n.is_null(1)), (1, true));
        let xs = s.column(1).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!((xs.value_length(0), xs.value_length(1), xs.is_null(1)), (2, 0, false));
    }

    #[test]
    fn unknown_fields_and_wrong_types_fail() {
        let ty = Ty::Struct(vec![("n", Ty::I64)]);
        let extra = json!({"n": 1, "m": 2});
        assert!(build(&ty, &[Some(&extra)]).unwrap_err().to_string().contains("`m`"));
        let wrong = json!({"n": "1"});
        assert!(build(&ty, &[Some(&wrong)]).is_err());
    }

    #[test]
    fn times_keep_every_microsecond() {
        let v = json!(1_700_000_000.123_457);
        let a = build(&Ty::Ts, &[Some(&v)]).unwrap();
        let t = a.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!(t.value(0), 1_700_000_000_123_457);
    }
}
