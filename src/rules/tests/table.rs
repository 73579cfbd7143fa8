use super::*;

#[test]
fn table_of_property_cases() {
    let sig = signed();
    type Expected<'a> = Vec<(ProblemCode, Option<&'a str>)>;
    let cases: Vec<(&str, BTreeMap<String, String>, Expected)> = vec![
        (
            "unsigned",
            BTreeMap::new(),
            SIGNATURE_PROPERTIES
                .iter()
                .map(|p| (MissingSignatureProperty, Some(*p)))
                .collect(),
        ),
        (
            "one missing",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, None)]),
            vec![(MissingSignatureProperty, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "one empty",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some(""))]),
            vec![(MissingSignatureProperty, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "one blank",
            with(sig.clone(), &[(SIGNATURE, Some("  \n"))]),
            vec![(MissingSignatureProperty, Some(SIGNATURE))],
        ),
        (
            "lower-case hash method",
            with(sig.clone(), &[(SIGNATURE_HASH_METHOD, Some("sha256"))]),
            vec![(UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD))],
        ),
        (
            "unknown hash method",
            with(sig.clone(), &[(SIGNATURE_HASH_METHOD, Some("SHA-1"))]),
            vec![(UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD))],
        ),
        (
            "unknown key type",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, Some("ECC_SECT571K1"))]),
            vec![(UnknownSignatureKeyType, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "lower-case key type",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, Some("rsa-pss"))]),
            vec![(UnknownSignatureKeyType, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "bad base64",
            with(sig.clone(), &[(SIGNATURE, Some("c2lnI"))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "missing padding",
            with(sig.clone(), &[(SIGNATURE, Some("c2lnIQ"))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "non-ascii signature",
            with(sig.clone(), &[(SIGNATURE, Some("c2ln\u{00e9}IQ=="))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "signature decodes empty",
            with(sig.clone(), &[(SIGNATURE, Some("===="))]),
            vec![(EmptySignature, Some(SIGNATURE))],
        ),
        (
            "wrapped signature is fine",
            with(sig.clone(), &[(SIGNATURE, Some("c2ln\nIQ==\n"))]),
            vec![],
        ),
        (
            "cert id with slash",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some("../etc/passwd"))],
            ),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id with space",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some("a b"))]),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id with backslash",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some("a\\b"))]),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id too long",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some(&"a".repeat(256)))],
            ),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id of 255 is fine",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some(&"a".repeat(255)))],
            ),
            vec![],
        ),
        (
            "declared digest",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![],
        ),
        (
            "declared digest, upper case",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("SHA256")),
                    ("img_hash_value", Some(&ABC_SHA256.to_uppercase())),
                ],
            ),
            vec![],
        ),
        (
            "algo without value",
            with(sig.clone(), &[("img_hash_algo", Some("sha256"))]),
            vec![(IncompleteDeclaredDigest, Some("img_hash_value"))],
        ),
        (
            "value without algo",
            with(sig.clone(), &[("img_hash_value", Some(ABC_SHA256))]),
            vec![(IncompleteDeclaredDigest, Some("img_hash_algo"))],
        ),
        (
            "unknown algo",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("whirlpool")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![(UnknownHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "md5 not allowed",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("md5")),
                    ("img_hash_value", Some("900150983cd24fb0d6963f7d28e17f72")),
                ],
            ),
            vec![(DisallowedHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "sha1 not allowed",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha1")),
                    (
                        "img_hash_value",
                        Some("a9993e364706816aba3e25717850c26c9cd0d89d"),
                    ),
                ],
            ),
            vec![(DisallowedHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "value too short",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&ABC_SHA256[..62])),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value of another algorithm",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha512")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value not hex",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&format!("{}zz", &ABC_SHA256[..62]))),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value with spaces",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&format!(" {ABC_SHA256}"))),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value with multibyte chars",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    (
                        "img_hash_value",
                        Some(&format!("{}\u{e9}", &ABC_SHA256[..62])),
                    ),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
    ];
    for (name, props, expected) in cases {
        let v = check_properties(&props, &policy(), false);
        assert_eq!(codes(&v), expected, "case {name:?}: {:#?}", v.problems);
        for p in &v.problems {
            assert!(!p.message.is_empty(), "case {name:?}");
        }
    }
}
