package scenarios

// Telemetry names: what a run's detections could read. An expectation's
// blind_on lists the telemetry that cannot see its technique.
const (
	TelemetryMailsim         = "mailsim"          // mailsim's own audit trail (embedded, docker)
	TelemetryDovecotEnhanced = "dovecot-enhanced" // Dovecot + Postfix logs, enhanced profile
	TelemetryDovecotStock    = "dovecot-stock"    // Dovecot + Postfix logs, stock profile
	TelemetryRemote          = "remote"           // a remote server's own logs
)

// TelemetryNames lists every telemetry name blind_on accepts.
var TelemetryNames = []string{TelemetryMailsim, TelemetryDovecotEnhanced, TelemetryDovecotStock, TelemetryRemote}

// Telemetry is the telemetry of a run on target (as in the recording
// header: embedded, docker, dovecot, remote …) with the dovecot target's
// logging profile ("" is the default, enhanced). A target this function
// does not know reads its own server's logs: "remote"; a remote target
// whose file declares its logging profile (logs.profile) has that
// profile's telemetry.
func Telemetry(target, profile string) string {
	switch target {
	case "", "embedded", "docker":
		return TelemetryMailsim
	case "dovecot":
		if profile == "stock" {
			return TelemetryDovecotStock
		}
		return TelemetryDovecotEnhanced
	case "remote":
		// A remote file's logs.profile says how much its server logs.
		switch profile {
		case "stock":
			return TelemetryDovecotStock
		case "enhanced":
			return TelemetryDovecotEnhanced
		}
	}
	return TelemetryRemote
}
