use super::*;
use crate::rules::tests::policy;

#[test]
fn policy_validation() {
    policy().validate().unwrap();
    let mut p = policy();
    p.allowed_key_types = vec!["ECC_SECT571K1".into()];
    assert!(matches!(p.validate(), Err(Error::Policy(m)) if m.contains("ECC_SECT571K1")));
    let mut p = policy();
    p.hash_value_property = p.hash_algo_property.clone();
    assert!(p.validate().is_err());
    let mut p = policy();
    p.hash_algo_property.clear();
    assert!(p.validate().is_err());
}
