//! 405 for a known path with a method it does not have, with an `Allow`
//! header, instead of the 404 a router gives when no route matches. Built
//! from the OpenAPI document, so it can never disagree with the routes.

use actix_web::{HttpRequest, HttpResponse};

use crate::problem::ApiError;

/// Path templates (`/v1/migrations/{id}`) and their methods.
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods(Vec<(Vec<String>, Vec<String>)>);

impl AllowedMethods {
    pub fn from_document(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                let json = serde_json::to_value(item).unwrap_or_default();
                let mut methods: Vec<String> =
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .into_iter()
                        .filter(|m| json.get(*m).is_some())
                        .map(str::to_uppercase)
                        .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                (segments, methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods of the template matching `path`, if any.
    pub fn for_path(&self, path: &str) -> Option<&[String]> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == parts.len()
                    && template
                        .iter()
                        .zip(&parts)
                        .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
            })
            .map(|(_, methods)| methods.as_slice())
    }
}

/// The default service: 405 with `Allow` for a known path, 404 otherwise.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = req
        .app_data::<actix_web::web::Data<AllowedMethods>>()
        .and_then(|a| a.for_path(req.path()).map(<[String]>::to_vec));
    match allowed {
        Some(methods) => Ok(ApiError::MethodNotAllowed(req.method().to_string())
            .error_response_with_allow(&methods.join(", "))),
        None => Err(ApiError::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_ids_but_not_other_paths() {
        let allowed = AllowedMethods::from_document(&crate::openapi::document());
        let methods = allowed.for_path("/v1/migrations/0190-abc").expect("known");
        assert!(methods.contains(&"GET".to_owned()));
        assert!(
            allowed
                .for_path("/v1/migrations")
                .expect("known")
                .contains(&"POST".to_owned())
        );
        assert!(allowed.for_path("/v1/nowhere").is_none());
        assert!(allowed.for_path("/v1/migrations/x/y/z/w").is_none());
    }
}
