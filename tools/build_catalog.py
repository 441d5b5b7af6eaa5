#!/usr/bin/env python3
"""Build nodepack's embedded AWS us-east-1 catalog from ../shared/data.

Run from the repository root:  python3 tools/build_catalog.py ../shared/data
Writes crates/formats/data/aws-us-east-1.json (the catalog, in nodepack's native catalog format) and
crates/formats/data/aws-allocatable-golden.json (Karpenter's documented allocatable, for golden tests).
Only the standard library is used; the output is deterministic (sorted keys and rows).
"""
import csv
import json
import sys
from collections import defaultdict

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
types = json.load(open(f"{src}/aws-instance-types.json"))
# Interruption buckets: the 2026-08 Spot Advisor block first, the 2025-06 feed as fallback.
advisor_2026 = json.load(open(f"{src}/spot-advisor-us-east-1-linux-2026-08.json"))["types"]
advisor_2025 = json.load(open(f"{src}/spot-advisor.json"))["spot_advisor"]["us-east-1"]["Linux"]
# Spot price: one regional price per type (AWS spot pricing feed, 2026-08-06).
spot_regional = {
    t: v["us-east-1"]["median"]
    for t, v in json.load(open(f"{src}/aws-spot-prices-us-east-1-2026-08-06_2026-08-06.json"))["prices"].items()
}

# Zone ids -> zone names. AWS maps ids to names per account; we fix one mapping.
ZONES = {f"use1-az{i}": f"us-east-1{c}" for i, c in zip(range(1, 7), "abcdef")}
DEFAULT_ZONE_IDS = ["use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"]

# Last spot price per (zone id, type) in the 2022-05-31 snapshot.
snap = {}
for r in csv.DictReader(open(f"{src}/spot-prices-sample.csv")):
    if r["region"] != "us-east-1":
        continue
    snap[(r["availability_zone_id"], r["instance_type"])] = (r["timestamp"], float(r["spot_price_usd_per_hour"]))
by_type = defaultdict(dict)
for (az, t), (_, p) in sorted(snap.items()):
    by_type[t][az] = p

out = []
skipped_no_price = []
stats = {"spot": 0, "bucket 2026-08": 0, "bucket 2025-06": 0, "bucket unknown": 0,
         "zone factors": 0, "no spot price": []}
for t in sorted(types, key=lambda x: x["name"]):
    od = t["on_demand_usd_per_hour_us_east_1"]
    if od is None:
        skipped_no_price.append(t["name"])
        continue
    alloc = t["karpenter_allocatable_al2023"]
    labels = {
        "node.kubernetes.io/instance-type": t["name"],
        "kubernetes.io/arch": t["arch"],
        "kubernetes.io/os": t["os"],
        "karpenter.k8s.aws/instance-category": t["category"],
        "karpenter.k8s.aws/instance-family": t["family"],
        "karpenter.k8s.aws/instance-generation": str(t["generation"]),
        "karpenter.k8s.aws/instance-size": t["size"],
        "karpenter.k8s.aws/instance-cpu": str(t["vcpu"]),
        "karpenter.k8s.aws/instance-memory": str(t["memory_mib"]),
    }
    opt = {
        "karpenter.k8s.aws/instance-cpu-manufacturer": t.get("cpu_manufacturer"),
        "karpenter.k8s.aws/instance-hypervisor": t.get("hypervisor"),
        "karpenter.k8s.aws/instance-network-bandwidth": t.get("network_bandwidth_mbps"),
        "karpenter.k8s.aws/instance-local-nvme": t.get("local_nvme_gib"),
    }
    if t["gpu_count"]:
        opt.update({
            "karpenter.k8s.aws/instance-gpu-count": t["gpu_count"],
            "karpenter.k8s.aws/instance-gpu-name": t["gpu_name"],
            "karpenter.k8s.aws/instance-gpu-manufacturer": t["gpu_manufacturer"],
            "karpenter.k8s.aws/instance-gpu-memory": t["gpu_memory_mib"],
        })
    if t["accelerator_count"]:
        opt.update({
            "karpenter.k8s.aws/instance-accelerator-count": t["accelerator_count"],
            "karpenter.k8s.aws/instance-accelerator-name": t["accelerator_name"],
            "karpenter.k8s.aws/instance-accelerator-manufacturer": t["accelerator_manufacturer"],
        })
    for k, v in opt.items():
        if v is not None:
            labels[k] = str(v).lower() if isinstance(v, bool) else str(v)
    extended = {k: v for k, v in alloc.items()
                if k not in ("cpu_millicores", "memory_mib", "ephemeral_storage_gib", "pods")}
    max_pods = t["max_pods_vpc_cni"]
    if max_pods is None and t["eni"]:
        max_pods = t["eni"]["default_card_max_enis"] * (t["eni"]["ipv4_per_eni"] - 1) + 2
    if max_pods is None:
        max_pods = alloc["pods"]
    zone_prices = by_type.get(t["name"], {})
    zone_ids = sorted(zone_prices) if zone_prices else DEFAULT_ZONE_IDS
    offerings = []
    regional = spot_regional.get(t["name"])
    if t["name"] in advisor_2026:
        bucket, bucket_src = advisor_2026[t["name"]]["r"], "2026-08"
    elif t["name"] in advisor_2025:
        bucket, bucket_src = advisor_2025[t["name"]]["r"], "2025-06"
    else:
        bucket, bucket_src = "unknown", "unknown"
    mean = sum(zone_prices.values()) / len(zone_prices) if zone_prices else None
    for az in zone_ids:
        z = ZONES[az]
        offerings.append({"zone": z, "zone_id": az, "capacity_type": "on-demand", "price": od})
        if regional is not None:
            # The regional price, spread over zones by the 2022 snapshot's relative
            # offsets (the zone's price over the mean of the type's zones), where it has them.
            # AWS caps a spot price at the on-demand price.
            factor = zone_prices[az] / mean if mean else 1.0
            price = min(od, round(regional * factor, 6))
            offerings.append({"zone": z, "zone_id": az, "capacity_type": "spot",
                              "price": price, "interruption": bucket})
    if regional is not None:
        stats["spot"] += 1
        stats[f"bucket {bucket_src}"] += 1
        if mean:
            stats["zone factors"] += 1
    else:
        stats["no spot price"].append(t["name"])
    out.append({
        "name": t["name"],
        "labels": labels,
        "vcpu": t["vcpu"],
        "memory_mib": t["memory_mib"],
        "max_pods": max_pods,
        "extended": extended,
        "offerings": offerings,
    })

catalog = {
    "name": "aws/us-east-1",
    "region": "us-east-1",
    "provenance": "see data/PROVENANCE.md",
    "data_date": "on-demand 2026-07-20; spot prices 2026-08-06; interruption buckets 2026-08 (Spot Advisor)",
    "instance_types": out,
}
with open("crates/formats/data/aws-us-east-1.json", "w") as f:
    json.dump(catalog, f, sort_keys=True, separators=(",", ":"))
    f.write("\n")
golden = {t["name"]: t["karpenter_allocatable_al2023"] for t in sorted(types, key=lambda x: x["name"])}
with open("crates/formats/data/aws-allocatable-golden.json", "w") as f:
    json.dump(golden, f, sort_keys=True, indent=0)
    f.write("\n")
print(f"types: {len(out)} (skipped without on-demand price: {len(skipped_no_price)}: {', '.join(skipped_no_price)})")
print(f"with a spot price: {stats['spot']}; per-zone offsets from the 2022 snapshot: {stats['zone factors']}")
print(f"interruption bucket from 2026-08: {stats['bucket 2026-08']}, from 2025-06: {stats['bucket 2025-06']}, unknown: {stats['bucket unknown']}")
print(f"no spot price in the feed (no spot offering): {len(stats['no spot price'])}: {', '.join(stats['no spot price'])}")
