//! Domain types as they are stored. Each one reads back through its parser, so a stored value
//! idbridge does not know (a corrupt row, a value written by a newer version) is a decode error:
//! logged, and the request refused, never a silent default such as re-allowing password
//! sign-in or a wider RBAC tier.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use super::stmt::Arg;
use crate::domain::tenant_settings::TenantSettings;
use crate::domain::{Boundary, ConnectionKind, RbacTier, TenantStatus, UserStatus};

/// A type kept in a text column (its decoding and encoding are its own).
macro_rules! text_column {
    ($($ty:ty),*) => {$(
        impl<DB: Database> Type<DB> for $ty
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }
    )*};
}

/// A text column holding an enum's `as_str`, read back with its `parse`.
macro_rules! stored_as_text {
    ($ty:ty, $what:literal) => {
        text_column!($ty);

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&'r str as Decode<'r, DB>>::decode(value)?;
                <$ty>::parse(s).ok_or_else(|| {
                    format!(
                        concat!("the stored ", $what, " `{}` is not one idbridge knows"),
                        s
                    )
                    .into()
                })
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl From<$ty> for Arg {
            fn from(v: $ty) -> Self {
                Arg::Text(v.as_str().to_string())
            }
        }

        impl From<&$ty> for Arg {
            fn from(v: &$ty) -> Self {
                Arg::Text(v.as_str().to_string())
            }
        }
    };
}

stored_as_text!(UserStatus, "user status");
stored_as_text!(TenantStatus, "tenant status");
stored_as_text!(RbacTier, "RBAC tier");
stored_as_text!(ConnectionKind, "connection kind");

text_column!(TenantSettings, Boundary, TextList);

/// Tenant settings are stored as JSON text, read with their strict schema (unknown fields are
/// refused too).
impl<'r, DB: Database> Decode<'r, DB> for TenantSettings
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&'r str as Decode<'r, DB>>::decode(value)?;
        serde_json::from_str(s).map_err(|e| {
            format!("the stored tenant settings are unreadable ({e}); set them again with PATCH /api/tenants/{{slug}}").into()
        })
    }
}

impl<'q, DB: Database> Encode<'q, DB> for TenantSettings
where
    String: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, DB>>::encode(serde_json::to_string(self)?, buf)
    }
}

/// A tenant boundary is stored as a JSON array of patterns and read back through its parser.
impl<'r, DB: Database> Decode<'r, DB> for Boundary
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&'r str as Decode<'r, DB>>::decode(value)?;
        let unreadable = |why: String| -> BoxDynError {
            format!("the stored tenant boundary is unreadable ({why}); set it again with PATCH /api/tenants/{{slug}}").into()
        };
        let raw: Vec<String> = serde_json::from_str(s).map_err(|e| unreadable(e.to_string()))?;
        Boundary::parse(&raw).map_err(|e| unreadable(e.to_string()))
    }
}

impl<'q, DB: Database> Encode<'q, DB> for Boundary
where
    String: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, DB>>::encode(serde_json::to_string(&self.to_strings())?, buf)
    }
}

/// A JSON array of strings in a text column (an OAuth client's redirect URIs, grant types and
/// scopes), read strictly: a value that is not an array of strings is a decode error, never an
/// empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct TextList(Vec<String>);

impl TextList {
    pub fn has(&self, wanted: &str) -> bool {
        self.0.iter().any(|x| x == wanted)
    }
}

impl From<Vec<String>> for TextList {
    fn from(v: Vec<String>) -> Self {
        Self(v)
    }
}

impl std::ops::Deref for TextList {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl<'r, DB: Database> Decode<'r, DB> for TextList
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&'r str as Decode<'r, DB>>::decode(value)?;
        serde_json::from_str(s)
            .map(Self)
            .map_err(|e| format!("the stored list is not a JSON array of strings ({e})").into())
    }
}

impl<'q, DB: Database> Encode<'q, DB> for TextList
where
    String: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, DB>>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value the parser does not know is refused on read, on both databases' decoders.
    #[tokio::test]
    async fn an_unknown_stored_value_is_a_decode_error_not_a_default() {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let ok: (UserStatus, TenantStatus, RbacTier, ConnectionKind) =
            sqlx::query_as("SELECT 'inactive', 'suspended', 'basic', 'saml'")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(
            ok,
            (
                UserStatus::Inactive,
                TenantStatus::Suspended,
                RbacTier::Basic,
                ConnectionKind::Saml
            )
        );
        let e = sqlx::query_as::<_, (UserStatus,)>("SELECT 'activ'")
            .fetch_one(&mut c)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("user status `activ`"), "{e}");
        let e = sqlx::query_as::<_, (RbacTier,)>("SELECT 'platinum'")
            .fetch_one(&mut c)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("RBAC tier"), "{e}");
        let read: (TenantSettings,) = sqlx::query_as(r#"SELECT '{"password_login": false}'"#)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert!(!read.0.password_login());
        for corrupt in [
            r#"{"password_login": "no"}"#,
            "{",
            r#"{"pasword_login": false}"#,
        ] {
            let e = sqlx::query_as::<_, (TenantSettings,)>("SELECT $1")
                .bind(corrupt)
                .fetch_one(&mut c)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("tenant settings"), "{corrupt}: {e}");
        }
        let read: (Boundary,) = sqlx::query_as(r#"SELECT '["users:*", "audit:read"]'"#)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(read.0.to_strings(), ["users:*", "audit:read"]);
        for corrupt in [
            "[]",
            r#"["users:*", "Users Read"]"#,
            "users:*",
            r#"{"a": 1}"#,
        ] {
            let e = sqlx::query_as::<_, (Boundary,)>("SELECT $1")
                .bind(corrupt)
                .fetch_one(&mut c)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("tenant boundary"), "{corrupt}: {e}");
        }
        let read: (TextList,) = sqlx::query_as(r#"SELECT '["openid", "email"]'"#)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert!(read.0.has("email") && !read.0.has("profile"));
        for corrupt in ["", "openid email", r#"[1, 2]"#, r#"{"a": 1}"#] {
            let e = sqlx::query_as::<_, (TextList,)>("SELECT $1")
                .bind(corrupt)
                .fetch_one(&mut c)
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains("JSON array of strings"),
                "{corrupt}: {e}"
            );
        }
        // Written as they are read.
        let back: (String, String, String) = sqlx::query_as("SELECT $1, $2, $3")
            .bind(UserStatus::Deleted)
            .bind(TenantSettings::default())
            .bind(Boundary::parse(&["*".into()]).unwrap())
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(back.0, "deleted");
        assert!(back.1.starts_with('{'));
        assert_eq!(back.2, r#"["*"]"#);
    }
}
