use super::*;
use ProblemCode::*;

#[test]
fn problem_codes_serialize_as_their_table_entry() {
    let json =
        serde_json::to_value(Problem::general(MissingSignatureProperty, "m".into())).unwrap();
    assert_eq!(json["code"], "missing-signature-property");
    for code in ProblemCode::ALL {
        let json = serde_json::to_value(code).unwrap();
        assert_eq!(json, code.as_str());
        assert_eq!(serde_json::from_value::<ProblemCode>(json).unwrap(), *code);
        assert_eq!(ProblemCode::from_code(code.as_str()), Some(*code));
    }
    assert_eq!(ProblemCode::from_code("no-such-code"), None);
}

#[test]
fn codes_are_unique_kebab_case() {
    let mut seen = std::collections::BTreeSet::new();
    for code in ProblemCode::ALL {
        let s = code.as_str();
        assert!(seen.insert(s), "{s} twice");
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
    }
}

fn problem(code: ProblemCode, message: &str) -> Problem {
    Problem::general(code, message.into())
}

#[test]
fn refusal_message_folds_missing_properties_and_numbers_the_rest() {
    let problems = [
        problem(MissingSignatureProperty, "img_signature is missing"),
        problem(UnknownSignatureHashMethod, "hash method is odd."),
        problem(MissingSignatureProperty, "img_signature_key_type is empty"),
        problem(
            MissingSignatureProperty,
            "img_signature_certificate_uuid is missing",
        ),
        problem(DigestMismatch, "data does not match"),
    ];
    assert_eq!(
        refusal_message("42", &problems, Action::Import),
        "Image 42 was not imported: (1) this cloud imports only signed images, and \
         img_signature is missing, img_signature_key_type is empty and \
         img_signature_certificate_uuid is missing; (2) hash method is odd; \
         (3) data does not match. Fix what is named and import again."
    );
    assert_eq!(
        refusal_message("42", &problems[3..4], Action::Import),
        "Image 42 was not imported: (1) this cloud imports only signed images, and \
         img_signature_certificate_uuid is missing. Fix what is named and import again."
    );
}

#[test]
fn refusal_message_says_what_was_not_done_and_what_to_do_again() {
    let problems = [problem(DigestMismatch, "data does not match")];
    for (action, done, again) in [
        (Action::Upload, "uploaded", "upload again"),
        (Action::Stage, "staged", "stage again"),
        (Action::Change, "changed", "try again"),
        (Action::Create, "created", "try again"),
    ] {
        assert_eq!(
            refusal_message("7", &problems, action),
            format!(
                "Image 7 was not {done}: (1) data does not match. Fix what is named and {again}."
            )
        );
    }
    assert_eq!(Action::from_name("upload"), Some(Action::Upload));
    assert_eq!(Action::from_name("imported"), None);
}
