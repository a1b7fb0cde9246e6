package detectors

import "encoding/json"

var jsonMarshal = json.Marshal
