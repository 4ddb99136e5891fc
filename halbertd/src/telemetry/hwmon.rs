//! Every hwmon sensor of the machine (`/sys/class/hwmon/hwmon*/`): temperatures, fans and
//! voltages, each with the limits the driver reports and its alarm flag, read through the host
//! root so that captured trees stand in for real machines in tests.
//!
//! The kernel's units (millidegrees, RPM, millivolts) become °C, RPM and V. A sensor whose
//! input cannot be read (a chip that answers EIO while it sleeps) is reported with no value,
//! so a consumer can say that it failed rather than leave it out.

use std::path::Path;

use crate::host::HostRoot;

const HWMON: &str = "/sys/class/hwmon";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Temperature,
    Fan,
    Voltage,
}

impl Kind {
    /// The attribute prefix, the factor from the kernel's unit and the unit given.
    fn of(prefix: &str) -> Option<(Kind, f64, &'static str)> {
        match prefix {
            "temp" => Some((Kind::Temperature, 1000.0, "°C")),
            "fan" => Some((Kind::Fan, 1.0, "RPM")),
            "in" => Some((Kind::Voltage, 1000.0, "V")),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Temperature => "temperature",
            Kind::Fan => "fan",
            Kind::Voltage => "voltage",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// The chip's `name` (coretemp, nct6775), else its directory.
    pub chip: String,
    /// The directory under /sys/class/hwmon (hwmon2): with `input`, what tells two sensors of
    /// the same name apart.
    pub device: String,
    /// The attribute's stem (temp1, fan2, in0).
    pub input: String,
    /// `<input>_label` (Package id 0, CPU Fan), else the stem.
    pub label: String,
    pub kind: Kind,
    pub unit: &'static str,
    /// `None` when the input could not be read.
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub crit: Option<f64>,
    /// The driver's `<input>_alarm` is set.
    pub alarm: bool,
}

impl Sensor {
    /// The limit the value is past, if any: the value against crit, max and min (in that
    /// order), else the driver's alarm. An upper limit of 0 is one the firmware never set
    /// (nct6775 reads so), not a limit every reading would cross.
    pub fn crossed(&self) -> Option<&'static str> {
        let v = self.value?;
        let set = |l: Option<f64>| l.filter(|&l| l != 0.0);
        if set(self.crit).is_some_and(|c| v >= c) {
            Some("crit")
        } else if set(self.max).is_some_and(|m| v >= m) {
            Some("max")
        } else if self.min.is_some_and(|m| v < m) {
            Some("min")
        } else if self.alarm {
            Some("alarm")
        } else {
            None
        }
    }
}

/// `names`, in natural order: hwmon10 after hwmon9, temp10 after temp9.
fn sorted_names(root: &HostRoot, abs: &str) -> Vec<String> {
    let mut v = root.names(abs);
    v.sort_by_key(|a| natural(a));
    v
}

fn natural(s: &str) -> (String, u64, String) {
    let head: String = s.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let rest = &s[head.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = rest[digits.len()..].to_owned();
    (head, digits.parse().unwrap_or(0), tail)
}

/// Every sensor, chip by chip in the kernel's order.
pub fn read(root: &HostRoot) -> Vec<Sensor> {
    let mut out = Vec::new();
    for dev in sorted_names(root, HWMON) {
        let base = format!("{HWMON}/{dev}");
        let chip = root
            .read_attr(format!("{base}/name"))
            .unwrap_or_else(|| dev.clone());
        let attr = |name: &str| root.read_attr(Path::new(&base).join(name));
        let scaled = |name: &str, factor: f64| {
            attr(name)
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v / factor)
        };
        for file in sorted_names(root, &base) {
            let Some(stem) = file.strip_suffix("_input") else {
                continue;
            };
            let prefix: String = stem.chars().take_while(|c| !c.is_ascii_digit()).collect();
            if stem.len() == prefix.len() {
                continue;
            }
            let Some((kind, factor, unit)) = Kind::of(&prefix) else {
                continue;
            };
            out.push(Sensor {
                chip: chip.clone(),
                device: dev.clone(),
                input: stem.to_owned(),
                label: attr(&format!("{stem}_label")).unwrap_or_else(|| stem.to_owned()),
                kind,
                unit,
                value: scaled(&file, factor),
                min: scaled(&format!("{stem}_min"), factor),
                max: scaled(&format!("{stem}_max"), factor),
                crit: scaled(&format!("{stem}_crit"), factor),
                alarm: attr(&format!("{stem}_alarm")).is_some_and(|a| a == "1"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> HostRoot {
        HostRoot::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/hosts")
                .join(name),
        )
    }

    #[test]
    fn a_workstations_temperatures_with_their_limits() {
        let s = read(&fixture("workstation"));
        let temps: Vec<_> = s.iter().filter(|x| x.kind == Kind::Temperature).collect();
        assert_eq!(
            temps.len(),
            s.len(),
            "the workstation has temperatures only"
        );
        let pkg = temps
            .iter()
            .find(|t| t.chip == "coretemp" && t.input == "temp1")
            .expect("coretemp's package sensor");
        assert_eq!(pkg.unit, "°C");
        assert!(
            pkg.value.is_some_and(|v| (0.0..150.0).contains(&v)),
            "{pkg:?}"
        );
        assert!(pkg.crit.is_some_and(|c| c > 50.0), "{pkg:?}");
        assert_ne!(pkg.label, "temp1", "coretemp labels its sensors");
        // acpitz has no labels: the stem stands in.
        assert!(s.iter().any(|t| t.chip == "acpitz" && t.label == "temp1"));
    }

    #[test]
    fn fans_and_voltages_in_their_units_and_limits_crossed() {
        let s = read(&fixture("desktop-nct6775"));
        let by = |input: &str| {
            s.iter()
                .find(|x| x.chip == "nct6798" && x.input == input)
                .unwrap_or_else(|| panic!("{input} in {s:?}"))
        };
        let fan = by("fan2");
        assert_eq!(
            (fan.kind, fan.unit, fan.label.as_str()),
            (Kind::Fan, "RPM", "fan2")
        );
        assert_eq!(fan.value, Some(1096.0));
        assert_eq!(fan.crossed(), None);
        let stopped = by("fan1");
        assert_eq!(stopped.value, Some(0.0));
        assert_eq!(stopped.crossed(), Some("min"));
        let vcore = by("in0");
        assert_eq!((vcore.kind, vcore.unit), (Kind::Voltage, "V"));
        assert_eq!(vcore.value, Some(0.888));
        assert_eq!(vcore.max, Some(1.744));
        assert_eq!(by("in1").crossed(), Some("alarm"), "a max of 0 is not set");
        assert_eq!(by("in10").crossed(), None);
        let hot = by("temp1");
        assert_eq!(hot.crossed(), Some("max"));
        // An input that cannot be read is there, without a value (a directory stands in for
        // a file the driver fails to read).
        assert_eq!(by("temp7").value, None);
        // Natural order: in2 before in10.
        let order: Vec<_> = s
            .iter()
            .filter(|x| x.kind == Kind::Voltage)
            .map(|x| x.input.as_str())
            .collect();
        assert_eq!(order, ["in0", "in1", "in2", "in10"]);
    }

    #[test]
    fn a_machine_without_hwmon_has_no_sensors() {
        assert!(read(&fixture("firecracker-vm")).is_empty());
        assert!(read(&HostRoot::new("/nonexistent")).is_empty());
    }
}
