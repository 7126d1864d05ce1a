//! Who started a reported scan: the CI job the environment names, and the user agent.

/// The CI job that ran the scan, from the variables GitHub Actions, GitLab CI and Jenkins set,
/// as a link an admin can open; `None` outside CI. `var` reads the environment (injectable).
pub fn from_ci(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if set("GITHUB_ACTIONS").as_deref() == Some("true") {
        let server = set("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        let (repository, run) = (set("GITHUB_REPOSITORY")?, set("GITHUB_RUN_ID")?);
        let attempt = set("GITHUB_RUN_ATTEMPT").map(|a| format!("/attempts/{a}")).unwrap_or_default();
        return Some(format!("{server}/{repository}/actions/runs/{run}{attempt}"));
    }
    if set("GITLAB_CI").as_deref() == Some("true") {
        return set("CI_JOB_URL");
    }
    if set("JENKINS_URL").is_some() {
        return set("BUILD_URL").or_else(|| Some(format!("{}#{}", set("JOB_NAME")?, set("BUILD_NUMBER")?)));
    }
    None
}

/// `scanfail/<version>` and the scanner's program name, e.g. `scanfail/0.1.0 roxctl`.
pub fn user_agent(scanner: Option<&str>) -> String {
    let own = concat!("scanfail/", env!("CARGO_PKG_VERSION"));
    match scanner.map(|s| s.rsplit(['/', '\\']).next().unwrap_or(s)).filter(|s| !s.is_empty()) {
        Some(name) => format!("{own} {name}"),
        None => own.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn github_actions_names_the_run_and_its_attempt() {
        let vars = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.example.com"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_RUN_ATTEMPT", "2"),
        ]);
        assert_eq!(from_ci(vars).as_deref(), Some("https://github.example.com/acme/shop/actions/runs/4242/attempts/2"));
    }

    #[test]
    fn gitlab_and_jenkins_name_the_job() {
        let gitlab = env(&[("GITLAB_CI", "true"), ("CI_JOB_URL", "https://gitlab.example.com/acme/shop/-/jobs/7")]);
        assert_eq!(from_ci(gitlab).as_deref(), Some("https://gitlab.example.com/acme/shop/-/jobs/7"));
        let jenkins = env(&[("JENKINS_URL", "https://ci/"), ("BUILD_URL", "https://ci/job/shop/12/")]);
        assert_eq!(from_ci(jenkins).as_deref(), Some("https://ci/job/shop/12/"));
        let jenkins = env(&[("JENKINS_URL", "https://ci/"), ("JOB_NAME", "shop"), ("BUILD_NUMBER", "12")]);
        assert_eq!(from_ci(jenkins).as_deref(), Some("shop#12"));
    }

    #[test]
    fn outside_ci_there_is_no_initiator() {
        assert_eq!(from_ci(env(&[("HOME", "/root")])), None);
        assert_eq!(from_ci(env(&[("GITHUB_ACTIONS", "true")])), None);
    }

    #[test]
    fn the_user_agent_names_scanfail_and_the_scanner() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(user_agent(Some("/usr/bin/roxctl")), format!("scanfail/{version} roxctl"));
        assert_eq!(user_agent(None), format!("scanfail/{version}"));
    }
}
