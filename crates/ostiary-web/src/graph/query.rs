//! OData system query options of list requests (`$filter`, `$select`, `$top`, `$orderby`,
//! `$count`, `$search`, `$skiptoken`), validated into a store `ListQuery`, with Graph's rule
//! that advanced queries need `ConsistencyLevel: eventual`.

use crate::error::GraphErr;
use ostiary_model::ObjectKind;
use ostiary_odata::SearchTerm;
use ostiary_store::filter::{self, FieldType, Filter, LikeKind, Operand};
use ostiary_store::{ListQuery, SortKey};

/// Decoded query parameters, in order. `$`-prefixed keys may arrive percent-encoded (`%24`).
pub struct QueryOptions {
    pub params: Vec<(String, String)>,
    pub eventual: bool,
}

impl QueryOptions {
    pub fn parse(raw: Option<&str>, eventual: bool) -> Result<Self, GraphErr> {
        let params: Vec<(String, String)> =
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &params {
            let norm = k.trim_start_matches('$').to_ascii_lowercase();
            if !seen.insert(norm) {
                return Err(GraphErr::bad(format!(
                    "Query option '{}' was specified more than once.",
                    ostiary_oauth::error::sanitize(k)
                )));
            }
        }
        Ok(QueryOptions { params, eventual })
    }

    /// Graph accepts system options with or without `$` and in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `$select` names, if any.
    pub fn select(&self) -> Result<Option<Vec<String>>, GraphErr> {
        match self.get("select") {
            None => Ok(None),
            Some(s) => {
                ostiary_odata::parse_select(s).map(Some).map_err(|e| GraphErr::bad(format!("Invalid $select: {e}")))
            }
        }
    }

    pub fn count_requested(&self) -> Result<bool, GraphErr> {
        match self.get("count") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(GraphErr::bad("$count must be true or false.")),
        }
    }

    /// Rejects options this resource does not support, so clients are not silently ignored.
    pub fn check_known(&self, allowed: &[&str]) -> Result<(), GraphErr> {
        for (k, _) in &self.params {
            if let Some(name) = k.strip_prefix('$')
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
            {
                return Err(GraphErr::unsupported(format!(
                    "Query option '${}' is not supported on this resource.",
                    ostiary_oauth::error::sanitize(name)
                )));
            }
        }
        Ok(())
    }

    /// Builds the store query for a list of `kind` (`None` for mixed directory objects).
    pub fn list_query(&self, kind: Option<ObjectKind>) -> Result<ListQuery, GraphErr> {
        self.check_known(&["filter", "select", "top", "orderby", "count", "search", "skiptoken"])?;
        if self.get("expand").is_some() {
            return Err(GraphErr::unsupported("$expand is not supported on this resource."));
        }
        let mut q = ListQuery::default();
        if let Some(t) = self.get("top") {
            let top = ostiary_odata::parse_top(t).map_err(|e| GraphErr::bad(format!("Invalid $top: {e}")))?;
            if !(1..=999).contains(&top) {
                return Err(GraphErr::bad("Invalid page size specified: '$top' must be between 1 and 999."));
            }
            q.top = top;
        }
        q.count = self.count_requested()?;
        if q.count && !self.eventual {
            return Err(GraphErr::bad(
                "$count is not currently supported without the ConsistencyLevel: eventual header.",
            ));
        }
        if let Some(f) = self.get("filter") {
            let expr =
                ostiary_odata::parse_filter(f).map_err(|e| GraphErr::bad(format!("Invalid filter clause: {e}")))?;
            if filter::is_advanced(&expr) && !(self.eventual && q.count) {
                return Err(GraphErr::unsupported(
                    "Unsupported Query. This filter needs the ConsistencyLevel: eventual header and $count=true (advanced query).",
                ));
            }
            q.filter =
                Some(filter::compile(&expr, kind).map_err(|e| GraphErr::bad(format!("Invalid filter clause: {e}")))?);
        }
        if let Some(s) = self.get("search") {
            if !self.eventual {
                return Err(GraphErr::bad(
                    "Request with $search query parameter only works with the ConsistencyLevel: eventual header.",
                ));
            }
            let term = ostiary_odata::parse_search(s).map_err(|e| GraphErr::bad(format!("Invalid $search: {e}")))?;
            let sf = search_filter(&term, kind)?;
            q.filter = Some(match q.filter.take() {
                Some(f) => Filter::And(Box::new(f), Box::new(sf)),
                None => sf,
            });
        }
        if let Some(o) = self.get("orderby") {
            for item in ostiary_odata::parse_orderby(o).map_err(|e| GraphErr::bad(format!("Invalid $orderby: {e}")))? {
                let [name] = item.prop.0.as_slice() else {
                    return Err(GraphErr::bad("$orderby supports top-level properties only."));
                };
                let spec =
                    filter::field(kind, name).filter(|s| s.ty != FieldType::StringCollection).ok_or_else(|| {
                        GraphErr::bad(format!(
                            "Sorting by '{}' is not supported.",
                            ostiary_oauth::error::sanitize(name)
                        ))
                    })?;
                q.order_by.push(SortKey {
                    field: spec.name,
                    ty: spec.ty,
                    descending: item.dir == ostiary_odata::SortDir::Desc,
                });
            }
        }
        q.skip_token = self.get("skiptoken").map(str::to_string);
        Ok(q)
    }

    /// The query string for the next page: every option but the old skip token, plus the new.
    pub fn next_query(&self, token: &str) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            if !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken") {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skiptoken", token);
        ser.finish()
    }
}

/// `$search="displayName:foo"` is a case-insensitive substring match on the named property.
fn search_filter(term: &SearchTerm, kind: Option<ObjectKind>) -> Result<Filter, GraphErr> {
    Ok(match term {
        SearchTerm::Property { prop, value } => {
            let spec = filter::field(kind, prop).filter(|s| s.ty == FieldType::String).ok_or_else(|| {
                GraphErr::bad(format!("Searching on '{}' is not supported.", ostiary_oauth::error::sanitize(prop)))
            })?;
            Filter::Like {
                operand: Operand::Field { name: spec.name, ty: spec.ty },
                kind: LikeKind::Contains,
                value: value.clone(),
            }
        }
        SearchTerm::And(a, b) => Filter::And(Box::new(search_filter(a, kind)?), Box::new(search_filter(b, kind)?)),
        SearchTerm::Or(a, b) => Filter::Or(Box::new(search_filter(a, kind)?), Box::new(search_filter(b, kind)?)),
    })
}
