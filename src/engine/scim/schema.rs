//! The SCIM schemas idbridge serves (RFC 7643 §4, §8.7): core User, the Enterprise User
//! extension and Group, with the attribute characteristics that the resource code enforces
//! (mutability, returned, uniqueness, caseExact, types). One table drives `/Schemas`, input
//! canonicalisation, output projection and filter case-exactness.

use serde_json::{Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
}

#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn a(name: &'static str, ty: Type, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn s(name: &'static str, description: &'static str) -> Attr {
    a(name, Type::String, description)
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    let mut x = a(name, Type::Complex, description);
    x.sub = sub;
    x
}

const fn multi(mut x: Attr) -> Attr {
    x.multi = true;
    x
}

const fn required(mut x: Attr) -> Attr {
    x.required = true;
    x
}

const fn exact(mut x: Attr) -> Attr {
    x.case_exact = true;
    x
}

const fn read_only(mut x: Attr) -> Attr {
    x.mutability = Mutability::ReadOnly;
    x
}

const fn immutable(mut x: Attr) -> Attr {
    x.mutability = Mutability::Immutable;
    x
}

const fn canonical(mut x: Attr, values: &'static [&'static str]) -> Attr {
    x.canonical = values;
    x
}

const fn reference(mut x: Attr, types: &'static [&'static str]) -> Attr {
    x.reference_types = types;
    x
}

/// A multi-valued attribute with the usual sub-attributes (value, display, type, primary).
macro_rules! plural {
    ($name:literal, $value:expr, $types:expr, $desc:literal) => {
        multi(complex(
            $name,
            &[
                $value,
                s(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                ),
                canonical(
                    s("type", "A label indicating the attribute's function."),
                    $types,
                ),
                a(
                    "primary",
                    Type::Boolean,
                    "A Boolean value indicating the 'primary' or preferred attribute value.",
                ),
            ],
            $desc,
        ))
    };
}

const NAME_SUB: &[Attr] = &[
    s("formatted", "The full name, formatted for display."),
    s("familyName", "The family name of the User."),
    s("givenName", "The given name of the User."),
    s("middleName", "The middle name(s) of the User."),
    s("honorificPrefix", "The honorific prefix(es) of the User."),
    s("honorificSuffix", "The honorific suffix(es) of the User."),
];

const ADDRESS_SUB: &[Attr] = &[
    s(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    s("streetAddress", "The full street address component."),
    s("locality", "The city or locality component."),
    s("region", "The state or region component."),
    s("postalCode", "The zip code or postal code component."),
    s("country", "The country name component."),
    canonical(
        s("type", "A label indicating the attribute's function."),
        &["work", "home", "other"],
    ),
    a(
        "primary",
        Type::Boolean,
        "A Boolean value indicating the 'primary' or preferred attribute value.",
    ),
];

const GROUPS_SUB: &[Attr] = &[
    read_only(s("value", "The identifier of the User's group.")),
    read_only(reference(
        a(
            "$ref",
            Type::Reference,
            "The URI of the corresponding 'Group' resource.",
        ),
        &["User", "Group"],
    )),
    read_only(s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )),
    read_only(canonical(
        s("type", "A label indicating the attribute's function."),
        &["direct", "indirect"],
    )),
];

pub static USER_ATTRS: &[Attr] = &[
    required(Attr {
        uniqueness: Uniqueness::Server,
        ..s(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Unique per tenant, case-insensitive.",
        )
    }),
    complex("name", NAME_SUB, "The components of the user's real name."),
    s(
        "displayName",
        "The name of the User, suitable for display to end-users.",
    ),
    s(
        "nickName",
        "The casual way to address the user in real life.",
    ),
    reference(
        a(
            "profileUrl",
            Type::Reference,
            "A fully qualified URL pointing to a page representing the User's online profile.",
        ),
        &["external"],
    ),
    s("title", "The user's title, such as \"Vice President\"."),
    s(
        "userType",
        "Used to identify the relationship between the organization and the user.",
    ),
    s(
        "preferredLanguage",
        "Indicates the User's preferred written or spoken language.",
    ),
    s(
        "locale",
        "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations.",
    ),
    s(
        "timezone",
        "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'.",
    ),
    a(
        "active",
        Type::Boolean,
        "A Boolean value indicating the User's administrative status. false ends every session at once.",
    ),
    Attr {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        ..s(
            "password",
            "Accepted and discarded: idbridge users sign in through SSO.",
        )
    },
    plural!(
        "emails",
        s("value", "Email addresses for the user."),
        &["work", "home", "other"],
        "Email addresses for the user."
    ),
    plural!(
        "phoneNumbers",
        s("value", "Phone number of the User."),
        &["work", "home", "mobile", "fax", "pager", "other"],
        "Phone numbers for the User."
    ),
    plural!(
        "ims",
        s("value", "Instant messaging address for the User."),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        "Instant messaging addresses for the User."
    ),
    plural!(
        "photos",
        reference(
            a("value", Type::Reference, "URL of a photo of the User."),
            &["external"]
        ),
        &["photo", "thumbnail"],
        "URLs of photos of the User."
    ),
    multi(complex(
        "addresses",
        ADDRESS_SUB,
        "A physical mailing address for this User.",
    )),
    read_only(multi(complex(
        "groups",
        GROUPS_SUB,
        "The groups the user is a direct member of (nested groups still give their roles).",
    ))),
    plural!(
        "entitlements",
        s("value", "The value of an entitlement."),
        &[],
        "A list of entitlements for the User (stored, never turned into permissions)."
    ),
    plural!(
        "roles",
        s("value", "The value of a role."),
        &[],
        "A list of roles for the User (stored, never turned into permissions: roles come from groups)."
    ),
    plural!(
        "x509Certificates",
        a("value", Type::Binary, "The value of an X.509 certificate."),
        &[],
        "A list of certificates issued to the User."
    ),
];

const MANAGER_SUB: &[Attr] = &[
    s(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    reference(
        a(
            "$ref",
            Type::Reference,
            "The URI of the SCIM resource representing the User's manager.",
        ),
        &["User"],
    ),
    read_only(s("displayName", "The displayName of the User's manager.")),
];

pub static ENTERPRISE_ATTRS: &[Attr] = &[
    s(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    s("costCenter", "Identifies the name of a cost center."),
    s("organization", "Identifies the name of an organization."),
    s("division", "Identifies the name of a division."),
    s("department", "Identifies the name of a department."),
    complex("manager", MANAGER_SUB, "The User's manager."),
];

const MEMBERS_SUB: &[Attr] = &[
    immutable(s("value", "Identifier of the member of this Group.")),
    immutable(reference(
        a(
            "$ref",
            Type::Reference,
            "The URI corresponding to a SCIM resource that is a member of this Group.",
        ),
        &["User", "Group"],
    )),
    immutable(s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )),
    immutable(canonical(
        s(
            "type",
            "A label indicating the type of resource, e.g., 'User' or 'Group'.",
        ),
        &["User", "Group"],
    )),
];

pub static GROUP_ATTRS: &[Attr] = &[
    required(Attr {
        uniqueness: Uniqueness::Server,
        ..s(
            "displayName",
            "A human-readable name for the Group. Unique per tenant, case-insensitive.",
        )
    }),
    multi(complex(
        "members",
        MEMBERS_SUB,
        "A list of members of the Group.",
    )),
];

/// Common attributes every resource has (RFC 7643 §3.1); not part of `/Schemas` attributes.
pub static ID: Attr = Attr {
    case_exact: true,
    mutability: Mutability::ReadOnly,
    returned: Returned::Always,
    uniqueness: Uniqueness::Server,
    ..s(
        "id",
        "Unique identifier for the SCIM resource as defined by the service provider.",
    )
};
pub static EXTERNAL_ID: Attr = exact(s(
    "externalId",
    "An identifier for the resource as defined by the provisioning client.",
));

const META_SUB: &[Attr] = &[
    read_only(s(
        "resourceType",
        "The name of the resource type of the resource.",
    )),
    read_only(a(
        "created",
        Type::DateTime,
        "The DateTime that the resource was added to the service provider.",
    )),
    read_only(a(
        "lastModified",
        Type::DateTime,
        "The most recent DateTime that the details of this resource were updated.",
    )),
    read_only(exact(reference(
        a(
            "location",
            Type::Reference,
            "The URI of the resource being returned.",
        ),
        &["uri"],
    ))),
    read_only(exact(s(
        "version",
        "The version of the resource being returned.",
    ))),
];
pub static META: Attr = read_only(complex("meta", META_SUB, "Resource metadata."));

/// Which kind of resource a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn core(self) -> &'static str {
        match self {
            Kind::User => USER,
            Kind::Group => GROUP,
        }
    }

    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Kind::User => USER_ATTRS,
            Kind::Group => GROUP_ATTRS,
        }
    }

    /// The extension schemas this resource type knows.
    pub fn extensions(self) -> &'static [(&'static str, &'static [Attr])] {
        static USER_EXTENSIONS: [(&str, &[Attr]); 1] = [(ENTERPRISE, ENTERPRISE_ATTRS)];
        match self {
            Kind::User => &USER_EXTENSIONS,
            Kind::Group => &[],
        }
    }

    /// The attribute list of a schema URN (the core one or a known extension).
    pub fn schema_attrs(self, urn: &str) -> Option<&'static [Attr]> {
        if urn.eq_ignore_ascii_case(self.core()) {
            return Some(self.attrs());
        }
        self.extensions()
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .map(|(_, a)| *a)
    }

    /// A top-level attribute of the core schema, with the common ones (`id`, `externalId`, `meta`).
    pub fn core_attr(self, name: &str) -> Option<&'static Attr> {
        for c in [&ID, &EXTERNAL_ID, &META] {
            if c.name.eq_ignore_ascii_case(name) {
                return Some(c);
            }
        }
        find(self.attrs(), name)
    }

    /// The canonical URN of a known extension, matched case-insensitively.
    pub fn extension_urn(self, urn: &str) -> Option<&'static str> {
        self.extensions()
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .map(|(u, _)| *u)
    }
}

pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether string comparisons on this attribute (path relative to the resource) are exact.
pub fn case_exact(kind: Kind, urn: Option<&str>, attr: &str, sub: Option<&str>) -> bool {
    let top = match urn {
        Some(u) if !u.eq_ignore_ascii_case(kind.core()) => {
            kind.schema_attrs(u).and_then(|attrs| find(attrs, attr))
        }
        _ => kind.core_attr(attr),
    };
    let Some(top) = top else {
        return false;
    };
    match sub {
        Some(sub) => find(top.sub, sub).is_some_and(|a| a.case_exact),
        None => top.case_exact,
    }
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.ty {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::DateTime => "dateTime",
            Type::Reference => "reference",
            Type::Complex => "complex",
            Type::Binary => "binary",
        },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match a.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        },
        "uniqueness": match a.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
        },
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.reference_types.is_empty() {
        v["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

/// The `/Schemas` documents, with `meta.location` under `base` (the absolute SCIM base URL).
pub fn schemas(base: &str) -> Vec<Value> {
    [
        (USER, "User", "User Account", USER_ATTRS),
        (
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRS,
        ),
        (GROUP, "Group", "Group", GROUP_ATTRS),
    ]
    .into_iter()
    .map(|(id, name, description, attrs)| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    })
    .collect()
}

/// The `/ResourceTypes` documents.
pub fn resource_types(base: &str) -> Vec<Value> {
    [Kind::User, Kind::Group]
        .into_iter()
        .map(|k| {
            let name = k.resource_type();
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": format!("/{}", k.endpoint()),
                "description": name,
                "schema": k.core(),
                "schemaExtensions": k.extensions().iter()
                    .map(|(u, _)| json!({"schema": u, "required": false}))
                    .collect::<Vec<_>>(),
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
            })
        })
        .collect()
}
