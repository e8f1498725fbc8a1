//! Every MIB object the agent serves from the model, declared as data: the
//! standard MIBs (SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, RS-232-MIB, UPS-MIB) and LIFELINE-MIB
//! (`mibs/LIFELINE-MIB.txt`). The agent's own objects (sysUpTime, counters,
//! the engine) are added by the agent itself.
use super::mib::{Column, Conv, Index, Scalar, Table, col, col_or, rw};

/// LIFELINE-MIB's root: netSnmpPlaypen.5433 (NET-SNMP-MIB: netSnmpPlaypen is
/// 1.3.6.1.4.1.8072.9999.9999), until the project has an IANA number.
pub const ENTERPRISE: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433];
/// sysObjectID: lifelineProducts.llAppliance.
pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 3, 1];
/// Notifications: lifelineNotifications.N, N the event kind's number.
pub const NOTIFICATIONS: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 0];
/// llNotifyOther: events of modules loaded at run time.
pub const OTHER_NOTIFICATION: u32 = 100;
/// llEventObjects, the varbinds of every notification.
pub const EVENT_OBJECTS: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 5];

pub const SYSTEM: &[u32] = &[1, 3, 6, 1, 2, 1, 1];
pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
pub const IF_INDEX: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 1];

const TRUTH_SIGNAL: Conv = Conv::Enum(&[("true", 2), ("false", 3)]);
const UP_DOWN: Conv = Conv::Enum(&[("up", 1), ("down", 2), ("testing", 3)]);
const OPER: Conv = Conv::Enum(&[
    ("up", 1),
    ("down", 2),
    ("testing", 3),
    ("unknown", 4),
    ("dormant", 5),
    ("not-present", 6),
    ("lower-layer-down", 7),
]);
const PARITY: Conv = Conv::Enum(&[
    ("none", 1),
    ("even", 2),
    ("odd", 3),
    ("mark", 4),
    ("space", 5),
]);

const IF_STATE: &str = "/ietf-interfaces:interfaces-state/interface";
const PORTS: &str = "/lifeline-ports:ports/port";
const UPS: &str = "/lifeline-power:power/device[ups][$context]/ups";

/// The SNMP contexts beyond the default: one per UPS, by device name, each
/// holding UPS-MIB (a MIB of one UPS) for that UPS; the default context's
/// UPS-MIB is the first UPS's. `[$context]` in a path is that UPS.
pub const CONTEXTS: &str = "/lifeline-power:power/device[ups]";
pub const CONTEXT_MIB: &[u32] = &[1, 3, 6, 1, 2, 1, 33];

const fn e(oid: &'static [u32]) -> &'static [u32] {
    oid
}

pub const SCALARS: &[Scalar] = &[
    // SNMPv2-MIB system group: the ietf-system leaves, writable.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 1, 4],
        path: "/ietf-system:system/contact",
        conv: Conv::Str,
        write: Some("/ietf-system:system/contact"),
        default: Some(""),
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 1, 5],
        path: "/ietf-system:system/hostname",
        conv: Conv::Str,
        write: Some("/ietf-system:system/hostname"),
        default: None,
        // The kernel's name until the configuration gives one.
        fallback: Some(crate::host::hostname),
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 1, 6],
        path: "/ietf-system:system/location",
        conv: Conv::Str,
        write: Some("/ietf-system:system/location"),
        default: Some(""),
        fallback: None,
    },
    // snmpEnableAuthenTraps.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 11, 30],
        path: "/ietf-snmp:snmp/engine/enable-authen-traps",
        conv: Conv::Truth,
        write: Some("/ietf-snmp:snmp/engine/enable-authen-traps"),
        default: Some("false"),
        fallback: None,
    },
    // IF-MIB ifNumber.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 2, 1],
        path: IF_STATE,
        conv: Conv::Count,
        write: None,
        default: None,
        fallback: None,
    },
    // RS-232-MIB rs232Number.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 10, 33, 1],
        path: PORTS,
        conv: Conv::Count,
        write: None,
        default: None,
        fallback: None,
    },
    // UPS-MIB, for the context's UPS.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 1, 5],
        path: "/lifeline-power:power/device[ups][$context]/name",
        conv: Conv::Str,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 2, 1],
        path: "/lifeline-power:power/device[ups][$context]/ups/status",
        conv: Conv::UpsBattery,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 2, 3],
        path: "/lifeline-power:power/device[ups][$context]/ups/runtime",
        conv: Conv::DivInt(60),
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 2, 4],
        path: "/lifeline-power:power/device[ups][$context]/ups/battery-charge",
        conv: Conv::Int,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 3, 2],
        path: UPS,
        conv: Conv::Const(1),
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 4, 1],
        path: "/lifeline-power:power/device[ups][$context]/ups/on-battery",
        conv: Conv::Enum(&[("true", 5), ("false", 3)]),
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 33, 1, 4, 3],
        path: UPS,
        conv: Conv::Const(1),
        write: None,
        default: None,
        fallback: None,
    },
    // HOST-RESOURCES-MIB system and memory size.
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 25, 1, 1],
        path: "/lifeline-host:host-resources/uptime",
        conv: Conv::Ticks,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 25, 1, 2],
        path: "/lifeline-host:host-resources/current-time",
        conv: Conv::DateAndTime,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 25, 1, 6],
        path: "/lifeline-host:host-resources/processes",
        conv: Conv::Gauge,
        write: None,
        default: None,
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 2, 1, 25, 2, 2],
        path: "/lifeline-host:host-resources/memory-size",
        conv: Conv::Int,
        write: None,
        default: None,
        fallback: None,
    },
    // LIFELINE-MIB llActiveUplink, llTunnelUp.
    Scalar {
        oid: &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 3, 2],
        path: "/lifeline-uplinks:uplinks/state/active-uplink",
        conv: Conv::Str,
        write: None,
        default: Some(""),
        fallback: None,
    },
    Scalar {
        oid: &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 3, 3],
        path: "/lifeline-uplinks:uplinks/state/tunnel-up",
        conv: Conv::Truth,
        write: None,
        default: Some("false"),
        fallback: None,
    },
];

const IF_COLUMNS: &[Column] = &[
    col(1, "if-index", Conv::Int),
    col(2, "name", Conv::Str),
    col(3, "type", Conv::IfType),
    col_or(5, "speed", Conv::Gauge, "0"),
    col(6, "phys-address", Conv::PhysAddr),
    col(7, "admin-status", UP_DOWN),
    col(8, "oper-status", OPER),
    col(10, "statistics/in-octets", Conv::Counter32),
    col(11, "statistics/in-unicast-pkts", Conv::Counter32),
    col(13, "statistics/in-discards", Conv::Counter32),
    col(14, "statistics/in-errors", Conv::Counter32),
    col(16, "statistics/out-octets", Conv::Counter32),
    col(17, "statistics/out-unicast-pkts", Conv::Counter32),
    col(19, "statistics/out-discards", Conv::Counter32),
    col(20, "statistics/out-errors", Conv::Counter32),
];

const IFX_COLUMNS: &[Column] = &[
    col(1, "name", Conv::Str),
    col(2, "statistics/in-multicast-pkts", Conv::Counter32),
    col(6, "statistics/in-octets", Conv::Counter64),
    col(7, "statistics/in-unicast-pkts", Conv::Counter64),
    col(8, "statistics/in-multicast-pkts", Conv::Counter64),
    col(10, "statistics/out-octets", Conv::Counter64),
    col(11, "statistics/out-unicast-pkts", Conv::Counter64),
    col_or(15, "speed", Conv::Div(1_000_000), "0"),
];

const RS232_FLOW: Conv = Conv::Enum(&[("none", 1), ("rts-cts", 2), ("xon-xoff", 1)]);

/// RS-232-MIB signal rows: (name code, leaf) for the in- and out-signal tables.
macro_rules! signal_table {
    ($entry:expr, $code:expr, $leaf:expr) => {
        Table {
            entry: $entry,
            list: PORTS,
            index: &[Index::Int("number"), Index::Const($code)],
            columns: &[
                col(1, "number", Conv::Int),
                col(2, "", Conv::Const($code)),
                col(3, $leaf, TRUTH_SIGNAL),
            ],
        }
    };
}

const RS232_IN_SIG: &[u32] = &[1, 3, 6, 1, 2, 1, 10, 33, 5, 1];
const RS232_OUT_SIG: &[u32] = &[1, 3, 6, 1, 2, 1, 10, 33, 6, 1];
const LL_DEVICE: &[u32] = &[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 2, 1, 1];

macro_rules! driver_table {
    ($case:expr, $code:expr) => {
        Table {
            entry: LL_DEVICE,
            list: $case,
            index: &[Index::Str("name")],
            columns: &[col(4, "", Conv::Const($code))],
        }
    };
}

pub const TABLES: &[Table] = &[
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 2, 2, 1]),
        list: IF_STATE,
        index: &[Index::Int("if-index")],
        columns: IF_COLUMNS,
    },
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 31, 1, 1, 1]),
        list: IF_STATE,
        index: &[Index::Int("if-index")],
        columns: IFX_COLUMNS,
    },
    // HOST-RESOURCES-MIB hrStorageTable, hrDeviceTable (processors), hrProcessorTable.
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 25, 2, 3, 1]),
        list: "/lifeline-host:host-resources/storage",
        index: &[Index::Int("index")],
        columns: &[
            col(1, "index", Conv::Int),
            col(
                2,
                "kind",
                Conv::OidEnum(&[
                    ("ram", &[1, 3, 6, 1, 2, 1, 25, 2, 1, 2]),
                    ("virtual-memory", &[1, 3, 6, 1, 2, 1, 25, 2, 1, 3]),
                    ("fixed-disk", &[1, 3, 6, 1, 2, 1, 25, 2, 1, 4]),
                ]),
            ),
            col(3, "description", Conv::Str),
            col(4, "allocation-unit", Conv::Int),
            col(5, "size", Conv::Int),
            col(6, "used", Conv::Int),
            col_or(7, "", Conv::Counter32, "0"),
        ],
    },
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 25, 3, 2, 1]),
        list: "/lifeline-host:host-resources/processor",
        index: &[Index::Int("index")],
        columns: &[
            col(1, "index", Conv::Int),
            col(2, "", Conv::ConstOid(&[1, 3, 6, 1, 2, 1, 25, 3, 1, 3])),
            col(3, "description", Conv::Str),
            col(5, "", Conv::Const(2)),
        ],
    },
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 25, 3, 3, 1]),
        list: "/lifeline-host:host-resources/processor",
        index: &[Index::Int("index")],
        columns: &[
            col(1, "", Conv::ConstOid(&[0, 0])),
            col(2, "load", Conv::Int),
        ],
    },
    // RS-232-MIB: rs232PortTable, rs232AsyncPortTable, the signal tables.
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 10, 33, 2, 1]),
        list: PORTS,
        index: &[Index::Int("number")],
        columns: &[
            col(1, "number", Conv::Int),
            col(2, "", Conv::Const(2)),
            col(3, "", Conv::Const(4)),
            col(4, "", Conv::Const(2)),
            col(5, "serial/baud", Conv::Int),
            col(6, "serial/baud", Conv::Int),
            col(7, "serial/flow-control", RS232_FLOW),
            col(8, "serial/flow-control", RS232_FLOW),
        ],
    },
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 10, 33, 3, 1]),
        list: PORTS,
        index: &[Index::Int("number")],
        columns: &[
            col(1, "number", Conv::Int),
            col(2, "serial/data-bits", Conv::Int),
            col(3, "serial/stop-bits", Conv::Enum(&[("1", 1), ("2", 2)])),
            col(
                4,
                "serial/parity",
                Conv::Enum(&[
                    ("none", 1),
                    ("odd", 2),
                    ("even", 3),
                    ("mark", 4),
                    ("space", 5),
                ]),
            ),
            col(5, "", Conv::Const(2)),
        ],
    },
    signal_table!(RS232_IN_SIG, 2, "state/signals/cts"),
    signal_table!(RS232_IN_SIG, 3, "state/signals/dsr"),
    signal_table!(RS232_IN_SIG, 5, "state/signals/ri"),
    signal_table!(RS232_IN_SIG, 6, "state/signals/dcd"),
    signal_table!(RS232_OUT_SIG, 1, "state/signals/rts"),
    signal_table!(RS232_OUT_SIG, 4, "state/signals/dtr"),
    // UPS-MIB upsInputTable and upsOutputTable: one line each.
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 33, 1, 3, 3, 1]),
        list: UPS,
        index: &[Index::Const(1)],
        columns: &[
            col(1, "", Conv::Const(1)),
            col(3, "input-voltage", Conv::Round),
        ],
    },
    Table {
        entry: e(&[1, 3, 6, 1, 2, 1, 33, 1, 4, 4, 1]),
        list: UPS,
        index: &[Index::Const(1)],
        columns: &[
            col(1, "", Conv::Const(1)),
            col(2, "output-voltage", Conv::Round),
            col(5, "load", Conv::Int),
        ],
    },
    // LIFELINE-MIB llPortTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 1, 1, 1]),
        list: PORTS,
        index: &[Index::Int("number")],
        columns: &[
            col(2, "name", Conv::Str),
            col(3, "label", Conv::Str),
            col(4, "enabled", Conv::Truth),
            col(5, "device", Conv::Str),
            col(6, "serial/baud", Conv::Gauge),
            col(7, "serial/data-bits", Conv::Int),
            col(8, "serial/parity", PARITY),
            col(9, "serial/stop-bits", Conv::Int),
            col(
                10,
                "serial/flow-control",
                Conv::Enum(&[("none", 1), ("rts-cts", 2), ("xon-xoff", 3)]),
            ),
            col(11, "state/device-present", Conv::Truth),
            col(12, "state/rx-bytes", Conv::Counter64),
            col(13, "state/tx-bytes", Conv::Counter64),
            col(14, "state/signals/dcd", Conv::Truth),
            col(15, "state/signals/dsr", Conv::Truth),
            col(16, "state/signals/cts", Conv::Truth),
            col(17, "state/signals/ri", Conv::Truth),
            col(18, "state/signals/dtr", Conv::Truth),
            col(19, "state/signals/rts", Conv::Truth),
            col(20, "state/session", Conv::Count),
        ],
    },
    // llSessionTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 1, 2, 1]),
        list: "/lifeline-ports:ports/port/state/session",
        index: &[Index::ParentInt("number"), Index::Int("id")],
        columns: &[
            col(2, "user", Conv::Str),
            col(
                3,
                "protocol",
                Conv::Enum(&[
                    ("ssh", 1),
                    ("telnet", 2),
                    ("raw-tcp", 3),
                    ("rfc2217", 4),
                    ("cli", 5),
                ]),
            ),
            col(4, "remote-address", Conv::Str),
            col(5, "remote-port", Conv::Gauge),
            col(6, "since", Conv::DateAndTime),
            col(
                7,
                "mode",
                Conv::Enum(&[("read-write", 1), ("read-only", 2), ("exclusive", 3)]),
            ),
        ],
    },
    // llPowerDeviceTable (the driver column comes from which case is set).
    Table {
        entry: LL_DEVICE,
        list: "/lifeline-power:power/device",
        index: &[Index::Str("name")],
        columns: &[
            col(2, "description", Conv::Str),
            col(3, "enabled", Conv::Truth),
            col(5, "reachable", Conv::Truth),
            col(6, "last-error", Conv::Str),
        ],
    },
    driver_table!("/lifeline-power:power/device[nut]", 1),
    driver_table!("/lifeline-power:power/device[snmp-pdu]", 2),
    driver_table!("/lifeline-power:power/device[powerman]", 3),
    // llOutletTable, with its control column.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 2, 2, 1]),
        list: "/lifeline-power:power/device/outlet",
        index: &[Index::ParentStr("name"), Index::Str("id")],
        columns: &[
            col(2, "name", Conv::Str),
            col(
                3,
                "state",
                Conv::Enum(&[("on", 1), ("off", 2), ("unknown", 3)]),
            ),
            rw(
                4,
                "",
                Conv::Action(&[("none", 1), ("on", 2), ("off", 3), ("cycle", 4)]),
            ),
            col(5, "off-time", Conv::Gauge),
        ],
    },
    // llUpsTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 2, 3, 1]),
        list: "/lifeline-power:power/device/ups",
        index: &[Index::ParentStr("name")],
        columns: &[
            col(1, "status", Conv::Str),
            col(2, "on-battery", Conv::Truth),
            col(3, "battery-charge", Conv::Gauge),
            col(4, "runtime", Conv::Gauge),
            col(5, "load", Conv::Gauge),
            col(6, "input-voltage", Conv::Tenths),
        ],
    },
    // llUplinkTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 3, 1, 1]),
        list: "/lifeline-uplinks:uplinks/uplink",
        index: &[Index::Str("name")],
        columns: &[
            col(2, "interface", Conv::Str),
            col(
                3,
                "kind",
                Conv::Enum(&[("ethernet", 1), ("cellular", 2), ("wifi", 3), ("other", 4)]),
            ),
            col(4, "priority", Conv::Gauge),
            col(5, "enabled", Conv::Truth),
            col(
                6,
                "health",
                Conv::Enum(&[
                    ("up", 1),
                    ("degraded", 2),
                    ("down", 3),
                    ("unknown", 4),
                    ("absent", 5),
                    ("dormant", 6),
                    ("disabled", 7),
                ]),
            ),
            col(7, "active", Conv::Truth),
            col(8, "probe-statistics/sent", Conv::Counter64),
            col(9, "probe-statistics/received", Conv::Counter64),
            col(10, "probe-statistics/consecutive-failures", Conv::Gauge),
            col(11, "probe-statistics/rtt-average", Conv::Gauge),
            col(12, "probe-statistics/loss", Conv::Gauge),
            col(13, "reason", Conv::Str),
            col(14, "last-change", Conv::DateAndTime),
        ],
    },
    // llRuleTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 4, 1, 1]),
        list: "/lifeline-auto-response:auto-response/rule",
        index: &[Index::Str("name")],
        columns: &[
            col(2, "description", Conv::Str),
            col(3, "enabled", Conv::Truth),
            col(
                4,
                "state",
                Conv::Enum(&[
                    ("idle", 1),
                    ("triggered", 2),
                    ("resolved", 3),
                    ("holding-off", 4),
                    ("disabled", 5),
                    ("rate-limited", 6),
                ]),
            ),
            col(5, "trigger-count", Conv::Counter64),
            col(6, "last-triggered", Conv::DateAndTime),
            col(7, "last-resolved", Conv::DateAndTime),
            col(8, "suppressed-count", Conv::Counter64),
        ],
    },
    // llAlarmTable.
    Table {
        entry: e(&[1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 5433, 1, 6, 1, 1]),
        list: "/ietf-alarms:alarms/alarm-list/alarm",
        index: &[Index::Int("alarm-id")],
        columns: &[
            col(2, "resource", Conv::Str),
            col(3, "alarm-type-id", Conv::Str),
            col(4, "alarm-type-qualifier", Conv::Str),
            col(5, "is-cleared", Conv::Truth),
            col(
                6,
                "perceived-severity",
                Conv::Enum(&[
                    ("indeterminate", 2),
                    ("warning", 3),
                    ("minor", 4),
                    ("major", 5),
                    ("critical", 6),
                ]),
            ),
            col(7, "alarm-text", Conv::Str),
            col(8, "last-changed", Conv::DateAndTime),
        ],
    },
];
