//! Opening a migration request: the wire input, checked field by field into a
//! [`NewMigration`] whose every field is a parsed newtype.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{FieldError, FieldErrors};
use crate::newtypes::{
    Email, PersonName, Phone, SourceVersion, TenantSlug, patterns, string_schema,
};

/// Request body of `POST /v1/migrations`: plain strings, so that every bad
/// field can be reported, not only the first one serde trips over.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMigrationInput {
    /// Slug of the target cloud tenant, e.g. `acme-gmbh`.
    #[schema(value_type = TenantSlug)]
    pub tenant: String,
    /// The customer's name as sales knows it.
    #[schema(value_type = PersonName)]
    pub customer_name: String,
    pub source: SourceInput,
    pub requested_by: PersonInput,
    pub migrator: ContactInput,
}

/// The on-premises installation to migrate.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// Product version of the source, e.g. `7.1` or `8.3 R05`.
    #[schema(value_type = SourceVersion)]
    pub version: String,
    /// URL of the database dump (`file://`, `s3://`, `http(s)://`).
    #[schema(value_type = SourceUrl)]
    pub database_url: String,
    /// URL (prefix) of the document archive.
    #[schema(value_type = SourceUrl)]
    pub archive_url: String,
}

/// A person: name and email.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    #[schema(value_type = PersonName)]
    pub name: String,
    #[schema(value_type = Email)]
    pub email: String,
}

/// The migrator's contact details, used throughout the migration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[schema(value_type = PersonName)]
    pub name: String,
    #[schema(value_type = Email)]
    pub email: String,
    #[schema(value_type = Phone)]
    pub phone: String,
}

/// A validated migration request.
#[derive(Debug, Clone)]
pub struct NewMigration {
    pub tenant: TenantSlug,
    pub customer_name: PersonName,
    pub source_version: SourceVersion,
    pub database_url: SourceUrl,
    pub archive_url: SourceUrl,
    pub requested_by_name: PersonName,
    pub requested_by_email: Email,
    pub migrator_name: PersonName,
    pub migrator_email: Email,
    pub migrator_phone: Phone,
}

/// A URL the worker reads the source from. Only schemes the tenant-store layer
/// can open are accepted, so a typo is caught at creation, not mid-upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUrl(String);

impl SourceUrl {
    pub const SCHEMES: [&'static str; 6] = ["file", "s3", "gs", "az", "http", "https"];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let bad = |msg: String| FieldError::new("url", "invalid_url", msg);
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(bad("a source URL has the form scheme://location".into()));
        };
        if !Self::SCHEMES.contains(&scheme) {
            return Err(bad(format!(
                "unsupported URL scheme '{scheme}' (one of {})",
                Self::SCHEMES.join(", ")
            )));
        }
        if rest.is_empty() || s.len() > 2048 || s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad(
                "a source URL has a location and no spaces or control characters".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SourceUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

string_schema!(
    SourceUrl,
    "A URL the worker reads the source from: file://, s3://, gs://, az://, http:// or https://, no spaces, at most 2048 characters.",
    patterns::SOURCE_URL,
    (None, Some(2048)),
    "s3://acme-export/documents/"
);

impl NewMigrationInput {
    /// Checks every field and reports all failures together.
    pub fn validate(&self) -> Result<NewMigration, FieldErrors> {
        let mut errs = FieldErrors::default();
        let tenant = errs.check("tenant", TenantSlug::parse(&self.tenant));
        let customer_name = errs.check("customer_name", PersonName::parse(&self.customer_name));
        let source_version =
            errs.check("source.version", SourceVersion::parse(&self.source.version));
        let database_url = errs.check(
            "source.database_url",
            SourceUrl::parse(&self.source.database_url),
        );
        let archive_url = errs.check(
            "source.archive_url",
            SourceUrl::parse(&self.source.archive_url),
        );
        let requested_by_name = errs.check(
            "requested_by.name",
            PersonName::parse(&self.requested_by.name),
        );
        let requested_by_email =
            errs.check("requested_by.email", Email::parse(&self.requested_by.email));
        let migrator_name = errs.check("migrator.name", PersonName::parse(&self.migrator.name));
        let migrator_email = errs.check("migrator.email", Email::parse(&self.migrator.email));
        let migrator_phone = errs.check("migrator.phone", Phone::parse(&self.migrator.phone));
        match (
            tenant,
            customer_name,
            source_version,
            database_url,
            archive_url,
            requested_by_name,
            requested_by_email,
            migrator_name,
            migrator_email,
            migrator_phone,
        ) {
            (
                Some(tenant),
                Some(customer_name),
                Some(source_version),
                Some(database_url),
                Some(archive_url),
                Some(requested_by_name),
                Some(requested_by_email),
                Some(migrator_name),
                Some(migrator_email),
                Some(migrator_phone),
            ) if errs.is_empty() => Ok(NewMigration {
                tenant,
                customer_name,
                source_version,
                database_url,
                archive_url,
                requested_by_name,
                requested_by_email,
                migrator_name,
                migrator_email,
                migrator_phone,
            }),
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewMigrationInput {
        NewMigrationInput {
            tenant: "acme".into(),
            customer_name: "ACME".into(),
            source: SourceInput {
                version: "8.3 R05".into(),
                database_url: "file:///srv/export/db.dump".into(),
                archive_url: "s3://bucket/docs/".into(),
            },
            requested_by: PersonInput {
                name: "Sam".into(),
                email: "sam@vendor.example".into(),
            },
            migrator: ContactInput {
                name: "Mia".into(),
                email: "mia@partner.example".into(),
                phone: "+49 30 123456".into(),
            },
        }
    }

    #[test]
    fn valid_input_parses() {
        let m = input().validate().expect("valid");
        assert_eq!(m.tenant.as_str(), "acme");
        assert_eq!(m.source_version.as_str(), "8.3 R05");
    }

    #[test]
    fn every_bad_field_is_listed() {
        let mut i = input();
        i.tenant = "ACME!".into();
        i.source.version = "eight".into();
        i.source.archive_url = "ftp://x/y".into();
        i.migrator.email = "nope".into();
        i.migrator.phone = "x".into();
        let errs = i.validate().expect_err("invalid");
        let fields: Vec<_> = errs.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("tenant", "invalid_tenant_slug"),
                ("source.version", "invalid_version"),
                ("source.archive_url", "invalid_url"),
                ("migrator.email", "invalid_email"),
                ("migrator.phone", "invalid_phone"),
            ]
        );
    }

    #[test]
    fn source_urls() {
        assert!(SourceUrl::parse("https://h/x").is_ok());
        assert!(SourceUrl::parse("file:///x").is_ok());
        for bad in ["", "/abs/path", "ftp://h/x", "s3://", "s3://a b"] {
            assert_eq!(SourceUrl::parse(bad).expect_err(bad).code, "invalid_url");
        }
    }
}
