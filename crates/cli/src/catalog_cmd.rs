//! `nodepack catalog`: list instance types with allocatable and prices.

use crate::input::catalog;
use crate::{Failure, Output};
use nodepack_formats::internals::Ctx;
use nodepack_formats::nodepool::requirement_expr;
use nodepack_model::{labels, CapacityType, InstanceType, Requirements};
use serde::Serialize;

/// Arguments of `nodepack catalog`.
#[derive(clap::Args)]
pub struct Args {
    /// Requirement `<key> <op> [<v1>,<v2>...]`, e.g. 'karpenter.k8s.aws/instance-family In m5'.
    /// Repeat to combine.
    #[arg(long = "requirements", value_name = "REQ")]
    requirements: Vec<String>,
    /// `aws/us-east-1` (embedded, the default) or a catalog file (native JSON or KWOK).
    #[arg(long)]
    catalog: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    arch: &'a str,
    vcpu: f64,
    memory_mib: u64,
    allocatable: Alloc,
    gpus: u64,
    on_demand_usd_per_hour: Option<f64>,
    spot_usd_per_hour_min: Option<f64>,
    spot_interruption: Option<&'static str>,
    zones: Vec<&'a str>,
    offerings: Vec<OfferingRow<'a>>,
}

/// One offering: zone, capacity type, price and (spot) interruption bucket.
#[derive(Serialize)]
struct OfferingRow<'a> {
    zone: &'a str,
    capacity_type: &'static str,
    price_usd_per_hour: f64,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    interruption: Option<&'static str>,
}

/// The JSON document: the catalog, its data date and the matching types.
#[derive(Serialize)]
struct Doc<'a> {
    catalog: &'a str,
    data_date: Option<&'a str>,
    instance_types: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Alloc {
    cpu_millicores: u64,
    memory_mib: u64,
    ephemeral_storage_mib: u64,
    pods: u64,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extended: std::collections::BTreeMap<String, u64>,
}

fn row(t: &InstanceType) -> Row<'_> {
    let a = t.allocatable();
    let price = |ct| {
        t.offerings
            .iter()
            .filter(|o| o.capacity_type == ct && o.available)
            .map(|o| o.price)
            .min()
    };
    let mut zones: Vec<&str> = t.offerings.iter().map(|o| o.zone.as_str()).collect();
    zones.dedup();
    Row {
        name: &t.name,
        arch: t.label(labels::ARCH).unwrap_or(""),
        vcpu: t.capacity.cpu.0 as f64 / 1000.0,
        memory_mib: t
            .label(labels::INSTANCE_MEMORY)
            .and_then(|m| m.parse().ok())
            .unwrap_or(t.capacity.memory.mib()),
        gpus: a.extended(nodepack_model::resources::NVIDIA_GPU)
            + a.extended(nodepack_model::resources::AMD_GPU),
        allocatable: Alloc {
            cpu_millicores: a.cpu.0,
            memory_mib: a.memory.mib(),
            ephemeral_storage_mib: a.ephemeral_storage.mib(),
            pods: a.pods,
            extended: a.extended.clone(),
        },
        on_demand_usd_per_hour: price(CapacityType::OnDemand).map(|p| p.usd()),
        spot_usd_per_hour_min: price(CapacityType::Spot).map(|p| p.usd()),
        spot_interruption: t
            .offerings
            .iter()
            .find_map(|o| o.spot_bucket())
            .map(|b| b.label()),
        zones,
        offerings: t
            .offerings
            .iter()
            .map(|o| OfferingRow {
                zone: &o.zone,
                capacity_type: o.capacity_type.as_str(),
                price_usd_per_hour: o.price.usd(),
                available: o.available,
                interruption: o.spot_bucket().map(|b| b.label()),
            })
            .collect(),
    }
}

/// Run the command.
pub fn run(a: Args) -> Result<(), Failure> {
    let cat = catalog(a.catalog.as_deref())?;
    let mut reqs = Requirements::new();
    for r in &a.requirements {
        reqs = reqs
            .intersect(&requirement_expr(&Ctx::file("--requirements"), r).map_err(Failure::input)?);
    }
    let rows: Vec<Row> = cat.matching(&reqs).map(row).collect();
    match a.output {
        Output::Json => {
            let doc = Doc {
                catalog: &cat.name,
                data_date: cat.data_date.as_deref(),
                instance_types: rows,
            };
            crate::emit(serde_json::to_string_pretty(&doc).map_err(Failure::internal)?)
        }
        Output::Table | Output::Csv => {
            let mut t = crate::tabular::Grid::new(&[
                "type",
                "arch",
                "vCPU",
                "memory MiB",
                "alloc cpu",
                "alloc memory MiB",
                "pods",
                "GPUs",
                "on-demand $/h",
                "spot $/h (min)",
                "interruption",
            ]);
            let money = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.4}"));
            for r in &rows {
                t.row([
                    r.name.to_string(),
                    r.arch.to_string(),
                    r.vcpu.to_string(),
                    r.memory_mib.to_string(),
                    format!("{}m", r.allocatable.cpu_millicores),
                    r.allocatable.memory_mib.to_string(),
                    r.allocatable.pods.to_string(),
                    r.gpus.to_string(),
                    money(r.on_demand_usd_per_hour),
                    money(r.spot_usd_per_hour_min),
                    r.spot_interruption.unwrap_or("-").to_string(),
                ]);
            }
            t.emit(a.output)?;
            if a.output == Output::Table {
                crate::emit(format!(
                    "{} of {} types in {} (data: {})",
                    rows.len(),
                    cat.instance_types.len(),
                    cat.name,
                    cat.data_date.as_deref().unwrap_or("date not stated")
                ));
            }
        }
    }
    Ok(())
}
