use super::*;
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

fn path(attr: &str) -> AttrPath {
    AttrPath::new(attr)
}

fn sub(attr: &str, s: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: attr.into(),
        sub: Some(s.into()),
    }
}

fn cmp(p: AttrPath, op: CompareOp, v: Value) -> Filter {
    Filter::Compare(p, op, v)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn num(v: &str) -> Value {
    Value::Num(v.parse().expect("test number"))
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn ok(input: &str) -> Filter {
    match parse_filter(input) {
        Ok(f) => f,
        Err(e) => panic!("{input:?} should parse: {e}"),
    }
}

fn bad(input: &str) -> FilterError {
    match parse_filter(input) {
        Ok(f) => panic!("{input:?} should fail, got {f:?}"),
        Err(e) => e,
    }
}

fn bad_path(input: &str) -> FilterError {
    match parse_patch_path(input) {
        Ok(p) => panic!("{input:?} should fail, got {p:?}"),
        Err(e) => e,
    }
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// ---- parser: operators, precedence, grouping ----

#[test]
fn every_operator() {
    for (word, op) in [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        assert_eq!(
            ok(&format!("userName {word} \"bjensen\"")),
            cmp(path("userName"), op, s("bjensen"))
        );
        let upper = word.to_ascii_uppercase();
        assert_eq!(
            ok(&format!("userName {upper} \"bjensen\"")),
            cmp(path("userName"), op, s("bjensen"))
        );
    }
    assert_eq!(ok("title pr"), Filter::Present(path("title")));
    assert_eq!(ok("title PR"), Filter::Present(path("title")));
}

#[test]
fn value_literals() {
    assert_eq!(
        ok("active eq true"),
        cmp(path("active"), CompareOp::Eq, Value::Bool(true))
    );
    assert_eq!(
        ok("active eq FALSE"),
        cmp(path("active"), CompareOp::Eq, Value::Bool(false))
    );
    assert_eq!(
        ok("title eq Null"),
        cmp(path("title"), CompareOp::Eq, Value::Null)
    );
    assert_eq!(
        ok("title ne null"),
        cmp(path("title"), CompareOp::Ne, Value::Null)
    );
    for n in [
        "0",
        "-0",
        "42",
        "-17",
        "1.5",
        "-0.25",
        "1e3",
        "1E+3",
        "2.5e-3",
        "12345678901234567890",
    ] {
        assert_eq!(
            ok(&format!("n ge {n}")),
            cmp(path("n"), CompareOp::Ge, num(n)),
            "{n}"
        );
    }
}

#[test]
fn precedence_and_associativity() {
    let a = || cmp(path("a"), CompareOp::Eq, s("1"));
    let b = || cmp(path("b"), CompareOp::Eq, s("2"));
    let c = || cmp(path("c"), CompareOp::Eq, s("3"));
    assert_eq!(
        ok(r#"a eq "1" or b eq "2" and c eq "3""#),
        or(a(), and(b(), c()))
    );
    assert_eq!(
        ok(r#"a eq "1" and b eq "2" or c eq "3""#),
        or(and(a(), b()), c())
    );
    assert_eq!(
        ok(r#"(a eq "1" or b eq "2") and c eq "3""#),
        and(or(a(), b()), c())
    );
    assert_eq!(
        ok(r#"a eq "1" and b eq "2" and c eq "3""#),
        and(and(a(), b()), c())
    );
    assert_eq!(
        ok(r#"a eq "1" or b eq "2" or c eq "3""#),
        or(or(a(), b()), c())
    );
    assert_eq!(
        ok(r#"a eq "1" AND b eq "2" Or c eq "3""#),
        or(and(a(), b()), c())
    );
    assert_eq!(ok(r#"not (a eq "1") and b eq "2""#), and(not(a()), b()));
    assert_eq!(ok(r#"NOT(a eq "1" or b eq "2")"#), not(or(a(), b())));
    assert_eq!(ok(r#"not   (not (a eq "1"))"#), not(not(a())));
    assert_eq!(ok(r#"((a eq "1"))"#), a());
    assert_eq!(ok(r#"  (a eq "1")and(b eq "2")  "#), and(a(), b()));
    assert_eq!(ok("a eq \"1\"\tand\t\tb eq \"2\""), and(a(), b()));
}

#[test]
fn case_insensitive_names_are_kept_as_written() {
    let f = ok(r#"USERNAME EQ "x""#);
    assert_eq!(f, cmp(path("USERNAME"), CompareOp::Eq, s("x")));
    let Filter::Compare(p, ..) = f else {
        unreachable!()
    };
    assert!(p.is("userName"));
    assert_eq!(p.dotted(), "username");
    assert_eq!(sub("Name", "GivenName").dotted(), "name.givenname");
    assert!(!sub("name", "givenName").is("name"));
}

#[test]
fn urn_qualified_names() {
    let f = ok(&format!("{ENTERPRISE}:manager.value eq \"26118915\""));
    assert_eq!(
        f,
        cmp(
            AttrPath {
                urn: Some(ENTERPRISE.into()),
                attr: "manager".into(),
                sub: Some("value".into())
            },
            CompareOp::Eq,
            s("26118915")
        )
    );
    assert_eq!(
        ok("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw \"J\""),
        cmp(
            AttrPath {
                urn: Some(CORE_USER_URN.into()),
                attr: "name".into(),
                sub: Some("familyName".into())
            },
            CompareOp::Sw,
            s("J")
        )
    );
    assert_eq!(
        ok(&format!("{ENTERPRISE}:employeeNumber pr")),
        Filter::Present(AttrPath {
            urn: Some(ENTERPRISE.into()),
            attr: "employeeNumber".into(),
            sub: None
        })
    );
    assert_eq!(
        ok("URN:acme:ext:costCenter eq \"x\""),
        cmp(
            AttrPath {
                urn: Some("URN:acme:ext".into()),
                attr: "costCenter".into(),
                sub: None
            },
            CompareOp::Eq,
            s("x")
        )
    );
    let p = AttrPath {
        urn: Some(ENTERPRISE.into()),
        attr: "manager".into(),
        sub: Some("value".into()),
    };
    assert_eq!(p.dotted(), "manager.value");
    assert_eq!(p.to_string(), format!("{ENTERPRISE}:manager.value"));
    bad("urn: eq \"x\"");
    bad("urn:x: eq \"x\"");
    bad("urn:userName eq \"x\"");
    bad("urn::x:userName eq \"x\"");
    bad("foo:userName eq \"x\"");
    bad(&format!("{ENTERPRISE}:manager.value.x eq \"x\""));
}

#[test]
fn attribute_names() {
    assert_eq!(
        ok(r#"x-y_z9 eq "1""#),
        cmp(path("x-y_z9"), CompareOp::Eq, s("1"))
    );
    assert_eq!(
        ok(r#"members[$ref eq "https://x/Users/1"]"#),
        Filter::ValuePath(
            path("members"),
            Box::new(cmp(path("$ref"), CompareOp::Eq, s("https://x/Users/1")))
        )
    );
    let e = bad(r#"a.b.c eq "x""#);
    assert!(e.message.contains("at most one sub-attribute"), "{e}");
    bad(r#"9abc eq "x""#);
    bad(r#"-abc eq "x""#);
    bad(r#"_abc eq "x""#);
    bad(r#"a..b eq "x""#);
    bad(r#"a. eq "x""#);
    bad(r#"$foo eq "x""#);
    bad(r#"ñame eq "x""#);
    bad(r#"not eq "x""#);
    bad(r#"and eq "x""#);
}

#[test]
fn value_paths() {
    let work = || cmp(path("type"), CompareOp::Eq, s("work"));
    assert_eq!(
        ok(r#"emails[type eq "work" and value co "@x.com"]"#),
        Filter::ValuePath(
            path("emails"),
            Box::new(and(work(), cmp(path("value"), CompareOp::Co, s("@x.com"))))
        )
    );
    assert_eq!(
        ok(r#"emails[type eq "work"] and userName sw "a""#),
        and(
            Filter::ValuePath(path("emails"), Box::new(work())),
            cmp(path("userName"), CompareOp::Sw, s("a"))
        )
    );
    assert_eq!(
        ok(r#"emails[ not (type eq "work") or primary eq true ]"#),
        Filter::ValuePath(
            path("emails"),
            Box::new(or(
                not(work()),
                cmp(path("primary"), CompareOp::Eq, Value::Bool(true))
            ))
        )
    );
    // Entra ID's form.
    assert_eq!(
        ok(r#"emails[type eq "work"].value eq "x""#),
        ok(r#"emails[type eq "work" and value eq "x"]"#)
    );
    assert_eq!(
        ok(r#"EMAILS[TYPE EQ "work"].VALUE PR"#),
        Filter::ValuePath(
            path("EMAILS"),
            Box::new(and(
                cmp(path("TYPE"), CompareOp::Eq, s("work")),
                Filter::Present(path("VALUE"))
            ))
        )
    );
    assert_eq!(
        ok(&format!("{ENTERPRISE}:manager[value eq \"m\"]")),
        Filter::ValuePath(
            AttrPath {
                urn: Some(ENTERPRISE.into()),
                attr: "manager".into(),
                sub: None
            },
            Box::new(cmp(path("value"), CompareOp::Eq, s("m")))
        )
    );
    bad(r#"emails[type eq "work"[value eq "x"]]"#);
    bad(r#"emails[addresses[type eq "x"]]"#);
    bad(r#"emails[]"#);
    bad(r#"emails[type eq "work""#);
    bad(r#"emails[type eq "work"))"#);
    bad(r#"emails [type eq "work"]"#);
    bad(r#"name.givenName[type eq "work"]"#);
    bad(r#"emails[urn:a:b:type eq "work"]"#);
    bad(r#"emails[type eq "work"].value.x eq "x""#);
    bad(r#"emails[type eq "work"]. eq "x""#);
    bad(r#"emails[type eq "work"].value"#);
    bad(r#"emails[type eq "work"] eq "x""#);
    bad(r#"[type eq "work"]"#);
}

#[test]
fn string_escapes() {
    assert_eq!(
        ok(r#"userName eq "x\" or userName pr""#),
        cmp(path("userName"), CompareOp::Eq, s("x\" or userName pr"))
    );
    assert_eq!(
        ok(r#"a eq "\\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00 ü""#),
        cmp(
            path("a"),
            CompareOp::Eq,
            s("\\ / \u{8} \u{c} \n \r \t é 😀 ü")
        )
    );
    assert_eq!(
        ok(r#"a eq "O'Brien'; DROP TABLE users; --""#),
        cmp(
            path("a"),
            CompareOp::Eq,
            s("O'Brien'; DROP TABLE users; --")
        )
    );
    assert_eq!(ok(r#"a eq """#), cmp(path("a"), CompareOp::Eq, s("")));
    assert_eq!(
        ok(r#"a eq "((([[[""#),
        cmp(path("a"), CompareOp::Eq, s("((([[["))
    );
    for input in [
        r#"a eq "\x""#,
        r#"a eq "\u12""#,
        r#"a eq "\u12G4""#,
        r#"a eq "\uD83D""#,
        r#"a eq "\uD83Dx""#,
        r#"a eq "\uD83D\u0041""#,
        r#"a eq "\uDE00""#,
        r#"a eq "\u0000""#,
        "a eq \"tab\there\"",
        "a eq \"line\nbreak\"",
        r#"a eq "unterminated"#,
        r#"a eq "ends with backslash\"#,
        r#"a eq 'single'"#,
    ] {
        bad(input);
    }
}

#[test]
fn errors_have_positions_and_say_what_was_expected() {
    let e = bad(r#"userName like "x""#);
    assert_eq!(e.position, 9);
    assert_eq!(
        e.message,
        r#"expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName" at 9, found "like""#
    );
    assert_eq!(e.to_string(), e.message);
    let e = bad(r#"userName eq "a" garbage"#);
    assert_eq!(e.position, 16);
    assert!(e.message.contains("found \"garbage\""), "{e}");
    let e = bad(r#"userName eq "a"#);
    assert_eq!(e.position, 12);
    assert!(e.message.starts_with("unterminated string"), "{e}");
    let e = bad(r#"(userName eq "a""#);
    assert!(
        e.message.contains("closing the \"(\" from position 0"),
        "{e}"
    );
    let e = bad(r#"a eq "\x""#);
    assert!(
        e.message.starts_with(r#"invalid escape "\x" in string"#),
        "{e}"
    );
    assert_eq!(e.position, 6);
    let e = bad("userName eq");
    assert!(e.message.contains("found the end of the input"), "{e}");
    let e = bad(&format!("userName eq {}", "a".repeat(500)));
    assert!(e.message.len() < 200, "long tokens are truncated: {e}");
    assert!(e.message.contains("..."), "{e}");
}

#[test]
fn malformed_filters_are_errors() {
    for input in [
        "",
        "   ",
        "\t",
        "userName",
        "userName ",
        "userName eq",
        "userName eq ",
        r#"userName eq "a" garbage"#,
        r#"userName eq "a" and"#,
        r#"userName eq "a" or "#,
        r#"userName eq "a" and or b pr"#,
        r#"userName eq "a" userName pr"#,
        r#"userName eq "a")"#,
        r#"(userName eq "a""#,
        r#"((userName eq "a")"#,
        r#"()"#,
        r#"userName eq"a""#,
        r#"userName eq "a"and b pr"#,
        r#"userName eq "a" andb pr"#,
        r#"userNameeq "a""#,
        r#"userName == "a""#,
        r#"userName like "a""#,
        r#"userName eq bjensen"#,
        r#"userName pr "x""#,
        r#"userName pr"x""#,
        r#"userName eq ()"#,
        r#"not userName eq "a""#,
        r#"not"#,
        r#"not ()"#,
        r#"active gt true"#,
        r#"active ge false"#,
        r#"title lt null"#,
        r#"title le null"#,
        r#"a co 1"#,
        r#"a sw true"#,
        r#"a ew null"#,
        "a eq 01",
        "a eq 1.",
        "a eq .5",
        "a eq +1",
        "a eq -",
        "a eq 1e",
        "a eq 1e+",
        "a eq 0x10",
        "a eq 1.2.3",
        "a eq 12abc",
        "a eq 1e400",
        "a eq NaN",
        "a eq --1",
        "a eq \"x\"\0",
        "\0",
        "a\0 pr",
        "a pr\0",
        "a pr\n",
        "a.b.c pr",
    ] {
        bad(input);
    }
}

#[test]
fn nul_is_refused_with_its_position() {
    assert_eq!(bad("a pr\0").position, 4);
    assert_eq!(bad("a eq \"x\0\"").position, 7);
    assert_eq!(bad_path("emails\0").position, 6);
}

#[test]
fn depth_limit() {
    let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    ok(&nested(MAX_DEPTH));
    assert!(
        bad(&nested(MAX_DEPTH + 1))
            .message
            .contains("nested too deeply")
    );
    let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
    ok(&nots(MAX_DEPTH));
    assert!(
        bad(&nots(MAX_DEPTH + 1))
            .message
            .contains("nested too deeply")
    );
    // Within the length limit, refused by the depth pre-scan.
    let t = Instant::now();
    let e = bad(&nested(4000));
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = bad(&"not (".repeat(1600));
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = bad(&"(".repeat(8000));
    assert_eq!(e.position, MAX_DEPTH);
    // Brackets count too, and brackets inside strings do not.
    let e = bad(&format!(
        "{}emails[type eq \"x\"]{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    ));
    assert!(e.message.contains("nested too deeply"), "{e}");
    ok(&format!("a eq \"{}\"", "(".repeat(100)));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn huge_inputs_are_refused_fast_without_recursion() {
    let t = Instant::now();
    // 10,000 nested parens and a 100,000 "not (" chain: refused by length...
    let e = bad(&format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000)));
    assert_eq!(e.position, MAX_FILTER_LEN);
    let chain = format!("{}a pr{}", "not (".repeat(100_000), ")".repeat(100_000));
    assert!(bad(&chain).message.contains("longer than"));
    // ...and the depth pre-scan alone handles them iteratively too.
    assert!(check_nul_and_depth(&chain).is_err());
    assert!(check_nul_and_depth(&"(".repeat(1_000_000)).is_err());
    let mib = format!("userName eq \"{}\"", "x".repeat(1 << 20));
    assert!(bad(&mib).message.contains("longer than"));
    assert!(bad_path(&mib).message.contains("longer than"));
    ok(&format!(
        "userName eq \"{}\"",
        "x".repeat(MAX_FILTER_LEN - 14)
    ));
    bad(&format!(
        "userName eq \"{}\"",
        "x".repeat(MAX_FILTER_LEN - 13)
    ));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn operator_limit() {
    let chain = |n: usize| format!("{}a pr", "a pr and ".repeat(n));
    ok(&chain(MAX_OPERATORS));
    let e = bad(&chain(MAX_OPERATORS + 1));
    assert!(e.message.contains("too many"), "{e}");
    assert_eq!(e.position, MAX_OPERATORS * 9 + 5);
    bad(&chain(900));
    bad(&format!("emails[{}]", chain(MAX_OPERATORS + 1)));
    ok(&format!("{} or a pr", chain(MAX_OPERATORS - 1)));
    bad(&format!("{} or a pr", chain(MAX_OPERATORS)));
}

/// The deepest AST the limits allow (MAX_DEPTH `not (` around the longest chain), and
/// everything done with it, fits a small stack even in a debug build.
#[test]
fn deepest_ast_fits_a_small_stack() {
    let chain = format!("{}a pr", "a pr and ".repeat(MAX_OPERATORS));
    let deep_and = format!(
        "{}{chain}{}",
        "not (".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    let deep_or = deep_and.replace(" and ", " or ");
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let resource = json!({"a": "x"});
            for text in [deep_and, deep_or] {
                let f = parse_filter(&text).expect("deep filter parses");
                assert!(matches(&f, &resource, &|_| false));
                let g = f.clone();
                assert_eq!(g, f);
                let printed = f.to_string();
                assert_eq!(printed, text);
                assert_eq!(parse_filter(&printed).as_ref(), Ok(&f));
                assert!(!format!("{f:?}").is_empty());
                drop(f);
                drop(g);
            }
        })
        .expect("spawn");
    assert!(handle.join().is_ok());
}

// ---- PATCH paths ----

#[test]
fn patch_paths() {
    let p = |input: &str| match parse_patch_path(input) {
        Ok(p) => p,
        Err(e) => panic!("{input:?}: {e}"),
    };
    assert_eq!(
        p("userName"),
        PatchPath {
            attr: path("userName"),
            filter: None,
            sub: None
        }
    );
    assert_eq!(
        p("name.givenName"),
        PatchPath {
            attr: sub("name", "givenName"),
            filter: None,
            sub: None
        }
    );
    assert_eq!(
        p(r#"emails[type eq "work"].value"#),
        PatchPath {
            attr: path("emails"),
            filter: Some(cmp(path("type"), CompareOp::Eq, s("work"))),
            sub: Some("value".into())
        }
    );
    assert_eq!(
        p(r#"members[value eq "2819c223"]"#),
        PatchPath {
            attr: path("members"),
            filter: Some(cmp(path("value"), CompareOp::Eq, s("2819c223"))),
            sub: None
        }
    );
    assert_eq!(
        p(&format!("{ENTERPRISE}:employeeNumber")),
        PatchPath {
            attr: AttrPath {
                urn: Some(ENTERPRISE.into()),
                attr: "employeeNumber".into(),
                sub: None
            },
            filter: None,
            sub: None
        }
    );
    assert_eq!(
        p(&format!("{ENTERPRISE}:manager.value")),
        PatchPath {
            attr: AttrPath {
                urn: Some(ENTERPRISE.into()),
                attr: "manager".into(),
                sub: Some("value".into())
            },
            filter: None,
            sub: None
        }
    );
    assert_eq!(
        p(r#"EMAILS[TYPE EQ "work"].VALUE"#),
        PatchPath {
            attr: path("EMAILS"),
            filter: Some(cmp(path("TYPE"), CompareOp::Eq, s("work"))),
            sub: Some("VALUE".into())
        }
    );
    assert_eq!(
        p(r#"emails[type eq "work" and (primary eq true or value ew "@x.com")]"#).filter,
        Some(ok(
            r#"type eq "work" and (primary eq true or value ew "@x.com")"#
        ))
    );
    assert_eq!(
        p("members[$ref pr]").filter,
        Some(Filter::Present(path("$ref")))
    );
}

#[test]
fn bad_patch_paths() {
    for input in [
        "",
        " ",
        " userName",
        "userName ",
        "user Name",
        "name. givenName",
        "a.b.c",
        "1abc",
        "emails[",
        "emails[]",
        r#"emails[type eq "work""#,
        r#"emails[type eq "work"]value"#,
        r#"emails[type eq "work"]."#,
        r#"emails[type eq "work"].value.display"#,
        r#"emails[type eq "work"].value "#,
        r#"emails[type eq "work"] .value"#,
        r#"emails [type eq "work"]"#,
        r#"emails[type eq "work"][value eq "x"]"#,
        r#"emails[type[value eq "x"]]"#,
        r#"name.givenName[type eq "work"]"#,
        r#"emails[type eq "work" garbage]"#,
        "urn:",
        "urn:foo",
        &format!("{ENTERPRISE}:"),
        "emails\0",
    ] {
        bad_path(input);
    }
    let t = Instant::now();
    let dots = vec!["a"; 4000].join(".");
    assert!(
        bad_path(&dots)
            .message
            .contains("at most one sub-attribute")
    );
    let dots = vec!["a"; 8000].join(".");
    assert!(bad_path(&dots).message.contains("longer than"));
    let dots = vec!["ab"; 8000].join(".");
    assert!(bad_path(&dots).message.contains("longer than"));
    let deep = format!("emails[{}a pr{}]", "(".repeat(40), ")".repeat(40));
    assert!(bad_path(&deep).message.contains("nested too deeply"));
    assert!(t.elapsed() < Duration::from_secs(2));
}

// ---- evaluator ----

fn user() -> Json {
    json!({
        "schemas": [CORE_USER_URN, ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen-EXT",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": null},
        "displayName": "Babs Jensen",
        "nickName": "",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "x509Certificates": [{"value": null}],
        "roles": ["admin", "Auditor"],
        "active": true,
        "loginCount": 42,
        "score": 7.5,
        "meta": {
            "resourceType": "User",
            "created": "2026-01-10T08:00:00Z",
            "lastModified": "2026-11-23T09:40:34.123Z"
        },
        ENTERPRISE: {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    })
}

fn eval(filter: &str) -> bool {
    let case_exact = |p: &AttrPath| p.is("id") || p.is("externalId");
    matches(&ok(filter), &user(), &case_exact)
}

fn check(cases: &[(&str, bool)]) {
    for (filter, expected) in cases {
        assert_eq!(eval(filter), *expected, "{filter}");
    }
}

#[test]
fn eval_strings_and_case_exactness() {
    check(&[
        (r#"userName eq "bjensen@example.com""#, true),
        (r#"userName eq "BJensen@Example.COM""#, true),
        (r#"USERNAME EQ "bjensen@example.com""#, true),
        (r#"userName ne "bjensen@example.com""#, false),
        (r#"userName ne "other""#, true),
        (r#"userName co "JENSEN@""#, true),
        (r#"userName sw "BJ""#, true),
        (r#"userName ew ".COM""#, true),
        (r#"userName ew ".org""#, false),
        (r#"userName gt "a""#, true),
        (r#"userName gt "C""#, false),
        (r#"userName ge "BJENSEN@example.com""#, true),
        (r#"userName lt "c""#, true),
        (r#"userName le "bjensen@example.com""#, true),
        (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
        (r#"ID eq "2819c223-7f76-453a-919d-413861904646""#, true),
        (r#"externalId eq "bjensen-EXT""#, true),
        (r#"externalId eq "bjensen-ext""#, false),
        (r#"externalId sw "bjensen-e""#, false),
        (r#"name.givenName eq "barbara""#, true),
        (r#"Name.GivenName sw "BAR""#, true),
        (r#"name.familyName ew "SEN""#, true),
        (r#"name.familyName co "ens""#, true),
        (r#"displayName eq "babs jensen""#, true),
        (r#"userName eq "x\" or userName pr""#, false),
    ]);
}

#[test]
fn eval_multi_valued() {
    check(&[
        (r#"emails eq "babs@jensen.org""#, true),
        (r#"emails eq "BABS@jensen.org""#, true),
        (r#"emails co "@example""#, true),
        (r#"emails eq "nobody@x.com""#, false),
        (r#"emails ne "babs@jensen.org""#, false),
        (r#"emails ne "nobody@x.com""#, true),
        (r#"emails.value co "@jensen""#, true),
        (r#"emails.type eq "WORK""#, true),
        (r#"emails.primary eq true"#, true),
        (r#"emails.primary eq false"#, false),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "work" and value co "@jensen.org"]"#,
            false,
        ),
        (r#"emails[type eq "home" and primary eq true]"#, false),
        (r#"emails[type eq "home" and not (primary pr)]"#, true),
        (
            r#"emails[type eq "work"].value eq "bjensen@example.com""#,
            true,
        ),
        (
            r#"emails[type eq "home"].value eq "bjensen@example.com""#,
            false,
        ),
        (r#"emails[type eq "home"].value pr"#, true),
        (
            r#"EMAILS[TYPE EQ "WORK"].VALUE EQ "BJENSEN@EXAMPLE.COM""#,
            true,
        ),
        (r#"emails[type eq "work"] and userName sw "bj""#, true),
        (r#"emails[type eq "other"] or userName sw "bj""#, true),
        (r#"phoneNumbers[type eq "work"]"#, false),
        (r#"addresses[type eq "work"]"#, false),
        (r#"name[givenName eq "barbara"]"#, true),
        (r#"roles eq "auditor""#, true),
        (r#"roles co "dmi""#, true),
        (r#"roles eq "root""#, false),
        (r#"userName[value eq "x"]"#, false),
    ]);
}

#[test]
fn eval_case_exact_gets_the_compared_attribute() {
    let seen = std::cell::RefCell::new(Vec::new());
    let case_exact = |p: &AttrPath| {
        seen.borrow_mut().push(p.to_string());
        p.sub
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("value"))
    };
    let user = user();
    let f = ok(r#"emails[type eq "WORK" and value eq "BJENSEN@example.com"]"#);
    assert!(!matches(&f, &user, &case_exact));
    let f = ok(r#"emails[type eq "WORK" and value eq "bjensen@example.com"]"#);
    assert!(matches(&f, &user, &case_exact));
    assert!(seen.borrow().contains(&"emails.type".to_string()));
    assert!(seen.borrow().contains(&"emails.value".to_string()));
    let f = ok(&format!(
        "{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87E4-49d8ca9f808d\""
    ));
    assert!(!matches(&f, &user, &case_exact));
    assert!(
        seen.borrow()
            .contains(&format!("{ENTERPRISE}:manager.value"))
    );
    // Not asked for non-string literals.
    seen.borrow_mut().clear();
    assert!(matches(
        &ok("active eq true and loginCount gt 1 and title eq null"),
        &user,
        &case_exact
    ));
    assert!(seen.borrow().is_empty());
}

#[test]
fn eval_numbers_booleans_and_no_coercion() {
    check(&[
        ("active eq true", true),
        ("active eq false", false),
        ("active ne false", true),
        ("active ne true", false),
        ("ACTIVE EQ TRUE", true),
        (r#"active eq "true""#, false),
        (r#"active ne "true""#, true),
        ("loginCount eq 42", true),
        ("loginCount eq 42.0", true),
        ("loginCount eq 4.2e1", true),
        ("loginCount ne 42", false),
        ("loginCount gt 41", true),
        ("loginCount gt 42", false),
        ("loginCount ge 42", true),
        ("loginCount lt 42", false),
        ("loginCount lt 42.5", true),
        ("loginCount le 42", true),
        ("loginCount gt -1", true),
        (r#"loginCount eq "42""#, false),
        ("userName eq 42", false),
        ("score gt 7", true),
        ("score eq 7.5", true),
        ("score lt 7.25", false),
        ("active eq 1", false),
    ]);
}

#[test]
fn eval_datetimes_compare_as_strings() {
    check(&[
        (r#"meta.lastModified gt "2026-11-01T00:00:00Z""#, true),
        (r#"meta.lastModified lt "2026-11-01T00:00:00Z""#, false),
        (r#"meta.lastModified ge "2026-11-23T09:40:34.123Z""#, true),
        (r#"meta.lastModified le "2026-11-23T09:40:34.122Z""#, false),
        (
            r#"meta.created ge "2026-01-01T00:00:00Z" and meta.created lt "2026-02-01T00:00:00Z""#,
            true,
        ),
        (r#"meta.resourceType eq "user""#, true),
    ]);
}

#[test]
fn eval_presence_and_null() {
    check(&[
        ("userName pr", true),
        ("nickName pr", false),
        ("phoneNumbers pr", false),
        ("x509Certificates pr", false),
        ("name.middleName pr", false),
        ("name.givenName pr", true),
        ("title pr", false),
        ("emails pr", true),
        ("emails.type pr", true),
        ("emails.display pr", false),
        ("name pr", true),
        ("title eq null", true),
        ("nickName eq null", true),
        ("name.middleName eq null", true),
        ("userName eq null", false),
        ("userName ne null", true),
        ("title ne null", false),
        (r#"title ne "x""#, true),
        (r#"title eq "x""#, false),
        (r#"name.middleName ne "x""#, true),
        (r#"not (title pr)"#, true),
        (r#"not (userName pr)"#, false),
    ]);
}

#[test]
fn eval_urn_qualified() {
    let ext = |rest: &str| format!("{ENTERPRISE}:{rest}");
    let core = |rest: &str| format!("{CORE_USER_URN}:{rest}");
    let cases = [
        (core("userName eq \"bjensen@example.com\""), true),
        (core("name.familyName eq \"jensen\""), true),
        (core("NAME.FAMILYNAME eq \"jensen\"").to_uppercase(), true),
        (ext("employeeNumber eq \"701984\""), true),
        (ext("employeeNumber eq \"7\""), false),
        (ext("employeeNumber pr"), true),
        (ext("costCenter pr"), false),
        (
            ext("manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""),
            true,
        ),
        (
            ext("manager eq \"26118915-6090-4610-87e4-49d8ca9f808d\""),
            true,
        ),
        (ext("manager[displayName co \"smith\"]"), true),
        (ext("manager.displayName sw \"john\"").to_lowercase(), true),
        ("employeeNumber eq \"701984\"".to_string(), false),
        (ext("userName pr"), false),
        ("urn:acme:ext:employeeNumber pr".to_string(), false),
        (
            format!(
                "{} and {}",
                ext("employeeNumber sw \"70\""),
                core("userName pr")
            ),
            true,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(eval(&filter), expected, "{filter}");
    }
}

#[test]
fn eval_logic() {
    check(&[
        (
            r#"userName eq "nobody" or name.givenName eq "barbara""#,
            true,
        ),
        (
            r#"userName eq "nobody" and name.givenName eq "barbara""#,
            false,
        ),
        (r#"userName pr and (title pr or active eq true)"#, true),
        (r#"userName pr and title pr or active eq true"#, true),
        (r#"title pr or userName pr and active eq false"#, false),
        (r#"not (userName eq "nobody") and not (title pr)"#, true),
        (r#"not (not (userName pr))"#, true),
    ]);
}

#[test]
fn eval_group_members() {
    let group = json!({
        "schemas": [CORE_GROUP_URN],
        "id": "e9e30dba",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs"},
            {"value": "902c246b", "display": "Mandy"}
        ]
    });
    let m = |f: &str| {
        matches(&ok(f), &group, &|p: &AttrPath| {
            p.is("id") || p.sub.as_deref() == Some("value")
        })
    };
    assert!(m(r#"displayName eq "tour guides""#));
    assert!(m(r#"members[value eq "2819c223"]"#));
    assert!(!m(r#"members[value eq "2819C223"]"#));
    assert!(m(r#"members eq "902c246b""#));
    assert!(m(r#"members[$ref co "/Users/2819c223"]"#));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "tour""#
    ));
    assert!(!m(r#"members[value eq "2819c223" and display eq "mandy"]"#));
    // A JSON that is not an object never matches and never panics.
    for weird in [
        json!(null),
        json!(1),
        json!("x"),
        json!([1, 2]),
        json!({"emails": 5}),
    ] {
        assert!(!matches(&ok(r#"emails[type eq "work"]"#), &weird, &|_| {
            false
        }));
        assert!(!matches(&ok(r#"emails.value eq "x""#), &weird, &|_| false));
        assert!(matches(&ok(r#"title ne "x""#), &weird, &|_| false));
    }
}

// ---- round trip and fuzz (no panics, Display parses back) ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'x>(&mut self, items: &[&'x str]) -> &'x str {
        items[self.below(items.len())]
    }
}

fn random_path(rng: &mut Rng, relative: bool) -> AttrPath {
    let names = [
        "userName", "emails", "value", "type", "$ref", "a-b_c1", "NAME",
    ];
    let urn = if !relative && rng.below(4) == 0 {
        Some(
            rng.pick(&[ENTERPRISE, CORE_USER_URN, "urn:x:y"])
                .to_string(),
        )
    } else {
        None
    };
    AttrPath {
        urn,
        attr: rng.pick(&names).to_string(),
        sub: (rng.below(3) == 0).then(|| rng.pick(&names).to_string()),
    }
}

fn random_filter(rng: &mut Rng, depth: usize, relative: bool) -> Filter {
    let leaf = depth == 0 || rng.below(3) == 0;
    if leaf {
        let p = random_path(rng, relative);
        return match rng.below(5) {
            0 => Filter::Present(p),
            1 => cmp(p, CompareOp::Eq, Value::Bool(rng.below(2) == 0)),
            2 => cmp(p, CompareOp::Ne, Value::Null),
            3 => cmp(
                p,
                CompareOp::from_word(rng.pick(&["gt", "ge", "lt", "le", "eq", "ne"]))
                    .unwrap_or(CompareOp::Eq),
                num(rng.pick(&["0", "-3", "1.5", "12345678901234567890", "2e-5"])),
            ),
            _ => cmp(
                p,
                CompareOp::from_word(rng.pick(&["eq", "ne", "co", "sw", "ew", "gt", "le"]))
                    .unwrap_or(CompareOp::Eq),
                s(rng.pick(&["", "x\" or y pr", "a\\b", "é😀\n\t", "(", "]", "'--"])),
            ),
        };
    }
    let a = random_filter(rng, depth - 1, relative);
    match rng.below(if relative { 3 } else { 4 }) {
        0 => and(a, random_filter(rng, depth - 1, relative)),
        1 => or(a, random_filter(rng, depth - 1, relative)),
        2 => not(a),
        _ => {
            let mut p = random_path(rng, false);
            p.sub = None;
            Filter::ValuePath(p, Box::new(random_filter(rng, depth - 1, true)))
        }
    }
}

#[test]
fn display_round_trips() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let f = random_filter(&mut rng, 5, false);
        let text = f.to_string();
        match parse_filter(&text) {
            Ok(back) => assert_eq!(back, f, "{text}"),
            Err(e) => assert!(
                text.len() > MAX_FILTER_LEN || e.message.contains("nested too deeply"),
                "{text}: {e}"
            ),
        }
    }
}

#[test]
fn fuzz_never_panics() {
    let tokens = [
        "userName",
        "emails",
        "name.givenName",
        ENTERPRISE,
        ":",
        ".",
        "value",
        " ",
        " ",
        "\t",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\"x\"",
        "\\",
        "\\u",
        "D83D",
        "eq",
        "pr",
        "and",
        "or",
        "not",
        "true",
        "null",
        "1",
        "-",
        "e",
        "+",
        "0",
        "$ref",
        "é",
        "\0",
        "\n",
        "gt",
        "co",
    ];
    let mut rng = Rng(12345);
    let resource = user();
    for _ in 0..20_000 {
        let n = rng.below(12);
        let input: String = (0..n).map(|_| rng.pick(&tokens)).collect();
        if let Ok(f) = parse_filter(&input) {
            let _ = matches(&f, &resource, &|_| false);
            assert_eq!(parse_filter(&f.to_string()).as_ref(), Ok(&f), "{input:?}");
        }
        let _ = parse_patch_path(&input);
        // Random bytes cut at arbitrary (char) boundaries.
        let bytes: Vec<u8> = (0..rng.below(16))
            .map(|_| (rng.next() & 0xff) as u8)
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_filter(&text);
        let _ = parse_patch_path(&text);
    }
}
