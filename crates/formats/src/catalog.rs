//! Instance type catalogs: the embedded AWS us-east-1 catalog, nodepack's native JSON
//! catalog format, and Karpenter's KWOK `instance_types.json`.
//!
//! # Native format
//! ```json
//! {"name": "my-cloud", "region": "r1", "instance_types": [
//!   {"name": "m5.large", "labels": {"kubernetes.io/arch": "amd64"},
//!    "vcpu": 2, "memory_mib": 8192, "max_pods": 29, "extended": {},
//!    "offerings": [{"zone": "r1a", "capacity_type": "spot", "price": 0.035, "interruption": 3}]},
//!   {"name": "big", "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
//!    "overhead": {"cpu": "100m", "memory": "1Gi"},
//!    "offerings": [{"zone": "r1a", "capacity_type": "on-demand", "price": 2.5}]}]}
//! ```
//! A type gives either `vcpu` and `memory_mib` (and `max_pods`; then capacity and overhead
//! follow Karpenter's AWS formulas and EC2NodeClass kubelet settings) or `capacity` (and
//! optionally `overhead`) as Kubernetes quantities. `interruption` is the Spot Advisor
//! bucket index 0-4, or `"unknown"`; a spot offering without one has an unknown bucket
//! (see `InterruptionBucket::UNKNOWN_AS`), never the safest. `data_date` (optional, free
//! text) says when the data was collected. The well-known labels `node.kubernetes.io/instance-type`,
//! `kubernetes.io/arch` (default amd64) and `kubernetes.io/os` (default linux) are added.

use crate::docs::typed;
use crate::error::{unique_name, Ctx, FormatError, Warning};
use crate::nodepool::Scalar;
use nodepack_model::aws::{AwsShape, KubeletConfig};
use nodepack_model::{
    labels, CapacityType, Catalog, InstanceType, InterruptionBucket, Money, Offering, Overhead,
    Resources,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The embedded catalog's JSON text (see data/PROVENANCE.md).
pub const AWS_US_EAST_1_JSON: &str = include_str!("../data/aws-us-east-1.json");

/// The name of the embedded default catalog.
pub const DEFAULT_CATALOG: &str = "aws/us-east-1";

#[derive(Deserialize)]
#[allow(dead_code)]
struct NativeDoc {
    name: String,
    region: Option<String>,
    provenance: Option<String>,
    data_date: Option<String>,
    instance_types: Vec<TypeDoc>,
}

#[derive(Deserialize)]
struct TypeDoc {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    vcpu: Option<u64>,
    memory_mib: Option<u64>,
    max_pods: Option<u64>,
    #[serde(default)]
    extended: BTreeMap<String, u64>,
    capacity: Option<BTreeMap<String, Scalar>>,
    overhead: Option<BTreeMap<String, Scalar>>,
    offerings: Vec<OfferingDoc>,
}

#[derive(Deserialize)]
struct OfferingDoc {
    zone: String,
    #[allow(dead_code)]
    zone_id: Option<String>,
    capacity_type: String,
    price: f64,
    available: Option<bool>,
    interruption: Option<BucketDoc>,
}

/// A Spot Advisor bucket in a catalog: its index 0-4, or `"unknown"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum BucketDoc {
    Index(u64),
    Label(String),
}

#[derive(Deserialize)]
struct KwokType {
    name: String,
    arch: Option<String>,
    #[serde(default)]
    os: Vec<String>,
    resources: BTreeMap<String, Scalar>,
    offerings: Vec<KwokOffering>,
}

#[derive(Deserialize)]
struct KwokOffering {
    capacity_type: String,
    zone: String,
    price: f64,
    available: Option<bool>,
}

fn resources(ctx: &Ctx, m: &BTreeMap<String, Scalar>) -> Result<Resources, FormatError> {
    crate::quantity::resources(ctx, m.iter().map(|(k, v)| (k.as_str(), v.0.as_str())))
}

/// Ceilings of catalog values, far above any instance type sold (the embedded catalog's
/// largest: 896 vCPUs, 32 TiB, 1,514 pods, $361/h), so that no input makes the
/// allocatable formulas loop for long or a sum of prices or resources overflow.
pub const MAX_VCPU: u64 = 4_096;
/// Memory ceiling, MiB (64 TiB).
pub const MAX_MEMORY_MIB: u64 = 64 << 20;
/// Pods per node ceiling.
pub const MAX_PODS: u64 = 10_000;
/// Ceiling of one extended resource (GPUs, ENIs) per node.
pub const MAX_EXTENDED: u64 = 1_000_000;
/// Price ceiling per offering, dollars per hour.
pub const MAX_PRICE_USD: f64 = 10_000.0;

/// `v` within `min..=max`, or an error naming the field and the ceiling.
fn within(ctx: &Ctx, v: u64, min: u64, max: u64) -> Result<(), FormatError> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(ctx.error(
            Some(&v.to_string()),
            format!("must be between {min} and {max}"),
        ))
    }
}

/// A capacity given as quantities, within the same ceilings as `vcpu`/`memory_mib`.
fn capacity(ctx: &Ctx, m: &BTreeMap<String, Scalar>) -> Result<Resources, FormatError> {
    let r = resources(ctx, m)?;
    within(&ctx.field("cpu"), r.cpu.0, 1, MAX_VCPU * 1000)?;
    within(&ctx.field("memory"), r.memory.mib(), 1, MAX_MEMORY_MIB)?;
    within(&ctx.field("pods"), r.pods, 0, MAX_PODS)?;
    for (k, &v) in &r.extended {
        within(&ctx.field(k), v, 0, MAX_EXTENDED)?;
    }
    Ok(r)
}

fn offering(
    ctx: &Ctx,
    zone: &str,
    ct: &str,
    price: f64,
    available: Option<bool>,
    interruption: Option<&BucketDoc>,
) -> Result<Offering, FormatError> {
    let capacity_type: CapacityType = ct
        .parse()
        .map_err(|m: String| ctx.field("capacity_type").error(Some(ct), m))?;
    if !(price.is_finite() && (0.0..=MAX_PRICE_USD).contains(&price)) {
        return Err(ctx.field("price").error(
            Some(&price.to_string()),
            format!("must be a number of dollars per hour between 0 and {MAX_PRICE_USD}"),
        ));
    }
    let bad = |v: String| {
        ctx.field("interruption").error(
            Some(&v),
            "must be a Spot Advisor bucket index 0-4 or \"unknown\"",
        )
    };
    let interruption = match interruption {
        Some(BucketDoc::Index(i)) => Some(
            u8::try_from(*i)
                .ok()
                .and_then(InterruptionBucket::from_index)
                .ok_or_else(|| bad(i.to_string()))?,
        ),
        Some(BucketDoc::Label(l)) if l == "unknown" => Some(InterruptionBucket::Unknown),
        Some(BucketDoc::Label(l)) => return Err(bad(format!("{l:?}"))),
        // A spot offering without a bucket has an unknown one, never the safest.
        None if capacity_type == CapacityType::Spot => Some(InterruptionBucket::Unknown),
        None => None,
    };
    if interruption.is_some() && capacity_type != CapacityType::Spot {
        return Err(ctx
            .field("interruption")
            .error(Some(ct), "only spot offerings have an interruption bucket"));
    }
    let mut o =
        Offering::new(zone, capacity_type, Money::from_usd(price)).with_interruption(interruption);
    o.available = available.unwrap_or(true);
    Ok(o)
}

/// A type offers each (zone, capacity type) once.
fn unique_offerings(tctx: &Ctx, offerings: &[Offering]) -> Result<(), FormatError> {
    for (j, o) in offerings.iter().enumerate() {
        if let Some(k) = offerings[..j]
            .iter()
            .position(|x| x.zone == o.zone && x.capacity_type == o.capacity_type)
        {
            return Err(tctx.field("offerings").index(j).error(
                Some(&format!("{} {}", o.zone, o.capacity_type.as_str())),
                format!("the same zone and capacity type as offerings[{k}]"),
            ));
        }
    }
    Ok(())
}

fn base_labels(name: &str, mut l: BTreeMap<String, String>) -> BTreeMap<String, String> {
    l.insert(labels::INSTANCE_TYPE.into(), name.into());
    l.entry(labels::ARCH.into())
        .or_insert_with(|| "amd64".into());
    l.entry(labels::OS.into()).or_insert_with(|| "linux".into());
    l
}

fn native(ctx: &Ctx, v: &Value) -> Result<(Catalog, Vec<Warning>), FormatError> {
    let (doc, warnings): (NativeDoc, _) = typed(ctx, v)?;
    let mut types = Vec::with_capacity(doc.instance_types.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, t) in doc.instance_types.into_iter().enumerate() {
        let tctx = ctx.field("instance_types").index(i);
        unique_name(&mut seen, &tctx, "instance_types", &t.name, i)?;
        let mut offerings = Vec::new();
        for (j, o) in t.offerings.iter().enumerate() {
            offerings.push(offering(
                &tctx.field("offerings").index(j),
                &o.zone,
                &o.capacity_type,
                o.price,
                o.available,
                o.interruption.as_ref(),
            )?);
        }
        unique_offerings(&tctx, &offerings)?;
        let labels = base_labels(&t.name, t.labels);
        let arm64 = labels.get(labels::ARCH).map(String::as_str) == Some("arm64");
        // Ceilings first: the allocatable formulas walk the cores, and sums must not
        // overflow.
        for (field, v, max) in [
            ("vcpu", t.vcpu, MAX_VCPU),
            ("memory_mib", t.memory_mib, MAX_MEMORY_MIB),
            ("max_pods", t.max_pods, MAX_PODS),
        ] {
            if let Some(v) = v {
                within(&tctx.field(field), v, 1, max)?;
            }
        }
        for (k, &v) in &t.extended {
            within(&tctx.field("extended").field(k), v, 0, MAX_EXTENDED)?;
        }
        let it = match (t.vcpu, t.memory_mib, &t.capacity) {
            (Some(vcpu), Some(memory_mib), None) => InstanceType::aws(
                &t.name,
                labels,
                AwsShape {
                    vcpu,
                    memory_mib,
                    eni_max_pods: t.max_pods.unwrap_or(110),
                    extended: t.extended,
                    arm64,
                },
                &KubeletConfig::default(),
                offerings,
            ),
            (None, None, Some(cap)) => {
                let mut it = InstanceType::new(&t.name, capacity(&tctx.field("capacity"), cap)?);
                it.labels = labels;
                it.overhead = Overhead {
                    kube_reserved: match &t.overhead {
                        Some(o) => resources(&tctx.field("overhead"), o)?,
                        None => Resources::default(),
                    },
                    ..Default::default()
                };
                it.offerings = offerings;
                it
            }
            _ => {
                return Err(tctx.error(
                    Some(&t.name),
                    "an instance type needs either vcpu and memory_mib, or capacity",
                ))
            }
        };
        types.push(it);
    }
    let mut c = Catalog::new(&doc.name, types).with_source(doc.region, doc.data_date);
    c.sort();
    Ok((c, warnings))
}

fn kwok(ctx: &Ctx, v: &Value) -> Result<(Catalog, Vec<Warning>), FormatError> {
    let (doc, warnings): (Vec<KwokType>, _) = typed(ctx, v)?;
    let mut types = Vec::with_capacity(doc.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, t) in doc.into_iter().enumerate() {
        let tctx = ctx.index(i);
        unique_name(&mut seen, &tctx, "instance_types", &t.name, i)?;
        let mut l = BTreeMap::new();
        if let Some(a) = &t.arch {
            l.insert(labels::ARCH.to_string(), a.clone());
        }
        if let Some(os) = t.os.first() {
            l.insert(labels::OS.to_string(), os.clone());
        }
        let mut offerings = Vec::new();
        for (j, o) in t.offerings.iter().enumerate() {
            offerings.push(offering(
                &tctx.field("offerings").index(j),
                &o.zone,
                &o.capacity_type,
                o.price,
                o.available,
                None,
            )?);
        }
        unique_offerings(&tctx, &offerings)?;
        // The KWOK provider reserves nothing (the constructor's default overhead).
        let mut it = InstanceType::new(&t.name, capacity(&tctx.field("resources"), &t.resources)?);
        it.labels = base_labels(&t.name, l);
        it.offerings = offerings;
        types.push(it);
    }
    let mut c = Catalog::new(&ctx.file, types);
    c.sort();
    Ok((c, warnings))
}

/// Read a catalog file: nodepack's native format (an object with `instance_types`) or
/// Karpenter's KWOK `instance_types.json` (an array).
pub fn read_catalog(file: &str, text: &str) -> Result<(Catalog, Vec<Warning>), FormatError> {
    let ctx = Ctx::file(file);
    let v: Value = serde_json::from_str(text).map_err(|e| {
        let mut err = ctx.error(None, format!("invalid JSON: {e}"));
        err.path = format!("line {}, column {}", e.line(), e.column());
        err
    })?;
    match &v {
        Value::Array(_) => kwok(&ctx, &v),
        Value::Object(_) => native(&ctx, &v),
        _ => Err(ctx.error_json(&v, "a catalog is a JSON object (native) or array (KWOK)")),
    }
}

/// The embedded AWS us-east-1 catalog, parsed once per process and shared.
///
/// ```
/// let catalog = nodepack_formats::aws_us_east_1();
/// assert_eq!(catalog.name, "aws/us-east-1");
/// assert!(catalog.get("m5.large").is_some());
/// ```
pub fn aws_us_east_1() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        // The embedded text is part of this crate's build and checked by its tests
        // (`embedded_catalog_loads`): a failure here is a defect of the build, never
        // of anything a user supplied.
        match read_catalog("<embedded aws/us-east-1>", AWS_US_EAST_1_JSON) {
            Ok((c, _)) => c,
            Err(e) => panic!("the embedded catalog does not parse: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};

    #[test]
    fn embedded_catalog_loads() {
        let (c, w) = read_catalog("e", AWS_US_EAST_1_JSON).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.instance_types.len(), 1345);
        let m5 = c.get("m5.large").unwrap();
        let a = m5.allocatable();
        assert_eq!(a.cpu, Millicores(1930));
        assert_eq!(a.memory, Bytes::from_mib(6903));
        assert_eq!(a.pods, 29);
        let od = m5
            .offerings
            .iter()
            .find(|o| o.capacity_type == CapacityType::OnDemand)
            .unwrap();
        assert_eq!(od.price, Money(96_000));
        assert!(m5
            .offerings
            .iter()
            .any(|o| o.capacity_type == CapacityType::Spot
                && o.price < od.price
                && o.interruption == Some(InterruptionBucket::Over20)));
        assert_eq!(m5.label(labels::INSTANCE_FAMILY), Some("m5"));
        // Types newer than the 2025 feeds are spot-priced (2026-08 feed); a type with a
        // spot price but no Spot Advisor bucket has an unknown bucket, not the safest.
        let spot_bucket = |t: &str| {
            c.get(t)
                .unwrap()
                .offerings
                .iter()
                .find(|o| o.capacity_type == CapacityType::Spot)
                .map(|o| o.interruption)
        };
        assert_eq!(
            spot_bucket("r8i.large"),
            Some(Some(InterruptionBucket::Over20))
        );
        assert_eq!(
            spot_bucket("c8ib.large"),
            Some(Some(InterruptionBucket::Unknown))
        );
        // No spot price in the feed: no spot offering.
        assert_eq!(spot_bucket("u-6tb1.56xlarge"), None);
        assert!(c
            .data_date
            .as_deref()
            .is_some_and(|d| d.contains("2026-08-06")));
        assert_eq!(
            c.get("p4d.24xlarge")
                .unwrap()
                .allocatable()
                .extended("nvidia.com/gpu"),
            8
        );
    }

    #[test]
    fn kwok_catalog_and_native_capacity() {
        let kw = r#"[{"name":"c-1x-amd64-linux","arch":"amd64","os":["linux"],
          "resources":{"cpu":"1","ephemeral-storage":"20Gi","memory":"2Gi","pods":"16"},
          "offerings":[{"capacity_type":"spot","zone":"test-zone-a","price":0.019,"available":true}]}]"#;
        let (c, _) = read_catalog("k.json", kw).unwrap();
        assert_eq!(c.instance_types[0].allocatable().memory, Bytes::from_gib(2));
        let native = r#"{"name":"x","instance_types":[{"name":"big","capacity":{"cpu":"64","memory":"256Gi","pods":110},
          "overhead":{"cpu":"100m"},"offerings":[{"zone":"a","capacity_type":"on-demand","price":2.5}]}]}"#;
        let (c, _) = read_catalog("n.json", native).unwrap();
        assert_eq!(c.instance_types[0].allocatable().cpu, Millicores(63_900));
    }

    #[test]
    fn bad_catalogs_name_the_field() {
        let bad = r#"{"name":"x","instance_types":[{"name":"a","vcpu":2,"memory_mib":1024,
          "offerings":[{"zone":"a","capacity_type":"preemptible","price":1}]}]}"#;
        let e = read_catalog("c.json", bad).unwrap_err();
        assert_eq!(e.path, "instance_types[0].offerings[0].capacity_type");
        assert_eq!(e.value.as_deref(), Some("\"preemptible\""));
        let e = read_catalog(
            "c.json",
            r#"{"name":"x","instance_types":[{"name":"a","offerings":[]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "instance_types[0]");
        let bucket = |b: &str| {
            format!(
                r#"{{"name":"x","instance_types":[{{"name":"a","vcpu":2,"memory_mib":1024,
                  "offerings":[{{"zone":"a","capacity_type":"spot","price":1{b}}}]}}]}}"#
            )
        };
        let e = read_catalog("c.json", &bucket(r#","interruption":7"#)).unwrap_err();
        assert_eq!(e.path, "instance_types[0].offerings[0].interruption");
        // A spot offering without a bucket, or with "unknown", has an unknown bucket.
        for b in ["", r#","interruption":"unknown""#] {
            let (c, _) = read_catalog("c.json", &bucket(b)).unwrap();
            assert_eq!(
                c.instance_types[0].offerings[0].interruption,
                Some(InterruptionBucket::Unknown)
            );
        }
        // Regression: a type or an offering given twice ended as an internal failure
        // (an invalid plan); both are refused naming the place.
        let t = r#"{"name":"a","vcpu":2,"memory_mib":1024,"offerings":[{"zone":"a","capacity_type":"spot","price":1}]}"#;
        let twice = format!(r#"{{"name":"x","instance_types":[{t},{t}]}}"#);
        let e = read_catalog("c.json", &twice).unwrap_err();
        assert_eq!(e.path, "instance_types[1].name");
        assert!(e.message.contains("instance_types[0]"), "{e}");
        let o = r#"{"zone":"a","capacity_type":"spot","price":1}"#;
        let dup = format!(
            r#"{{"name":"x","instance_types":[{{"name":"a","vcpu":2,"memory_mib":1024,"offerings":[{o},{o}]}}]}}"#
        );
        let e = read_catalog("c.json", &dup).unwrap_err();
        assert_eq!(e.path, "instance_types[0].offerings[1]");
        // Regression: a price of 1e300 saturated and sums went negative; a vcpu of
        // 18446744073709552 hung the allocatable formula; memory_mib 1e18 wrapped.
        let typ = |fields: &str, price: &str| {
            format!(
                r#"{{"name":"x","instance_types":[{{"name":"a",{fields},"offerings":[{{"zone":"a","capacity_type":"spot","price":{price}}}]}}]}}"#
            )
        };
        let ok = r#""vcpu":2,"memory_mib":1024"#;
        for (text, path) in [
            (typ(ok, "1e300"), "instance_types[0].offerings[0].price"),
            (typ(ok, "5e12"), "instance_types[0].offerings[0].price"),
            (
                typ(r#""vcpu":18446744073709552,"memory_mib":1024"#, "1"),
                "instance_types[0].vcpu",
            ),
            (
                typ(r#""vcpu":2,"memory_mib":1000000000000000000"#, "1"),
                "instance_types[0].memory_mib",
            ),
            (
                typ(r#""vcpu":0,"memory_mib":1024"#, "1"),
                "instance_types[0].vcpu",
            ),
            (
                typ(r#""capacity":{"cpu":"100000","memory":"1Gi"}"#, "1"),
                "instance_types[0].capacity.cpu",
            ),
        ] {
            let e = read_catalog("c.json", &text).unwrap_err();
            assert_eq!(e.path, path, "{text}");
        }
        let e = read_catalog("c.json", "[{").unwrap_err();
        assert!(e.message.contains("invalid JSON"));
    }
}
