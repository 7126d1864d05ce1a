//! The AWS partitions: what an ARN's partition is, its regions' prefix and its hosts' DNS
//! suffix. One table for every reader of ARNs and hosts (ECR images, the admin principals),
//! AWS's partition table as the SDK's endpoint resolver carries it.

/// One AWS partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// What an ARN says: `arn:<id>:…`.
    pub id: &'static str,
    /// What its regions start with (empty: the standard partition, the rest).
    pub region_prefix: &'static str,
    /// Its hosts' suffix: `<service>.<region>.<dns_suffix>`.
    pub dns_suffix: &'static str,
}

/// Every partition; the standard one first. GovCloud shares the standard DNS suffix.
pub const ALL: [Partition; 8] = [
    Partition { id: "aws", region_prefix: "", dns_suffix: "amazonaws.com" },
    Partition { id: "aws-us-gov", region_prefix: "us-gov-", dns_suffix: "amazonaws.com" },
    Partition { id: "aws-cn", region_prefix: "cn-", dns_suffix: "amazonaws.com.cn" },
    Partition { id: "aws-eusc", region_prefix: "eusc-", dns_suffix: "amazonaws.eu" },
    Partition { id: "aws-iso", region_prefix: "us-iso-", dns_suffix: "c2s.ic.gov" },
    Partition { id: "aws-iso-b", region_prefix: "us-isob-", dns_suffix: "sc2s.sgov.gov" },
    Partition { id: "aws-iso-e", region_prefix: "eu-isoe-", dns_suffix: "cloud.adc-e.uk" },
    Partition { id: "aws-iso-f", region_prefix: "us-isof-", dns_suffix: "csp.hci.ic.gov" },
];

/// The partition an ARN's partition field names, if any.
pub fn by_id(id: &str) -> Option<Partition> {
    ALL.into_iter().find(|p| p.id == id)
}

/// The partition of a region: the one whose prefix it has, else the standard one.
pub fn of_region(region: &str) -> Partition {
    ALL.into_iter().skip(1).find(|p| region.starts_with(p.region_prefix)).unwrap_or(ALL[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_in_the_partition_of_its_prefix_and_ids_name_theirs() {
        let of = |r: &str| of_region(r).id;
        assert_eq!(
            [
                "eu-west-1",
                "us-gov-west-1",
                "cn-north-1",
                "eusc-de-east-1",
                "us-iso-east-1",
                "us-isob-east-1",
                "eu-isoe-west-1",
                "us-isof-south-1"
            ]
            .map(of),
            ["aws", "aws-us-gov", "aws-cn", "aws-eusc", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"]
        );
        assert_eq!(by_id("aws-iso-b").map(|p| p.dns_suffix), Some("sc2s.sgov.gov"));
        assert_eq!(by_id("aws-mars"), None);
    }
}
