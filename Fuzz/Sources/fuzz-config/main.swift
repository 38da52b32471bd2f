import Bertology
@_spi(Fuzzing) import BertologyEngine
import FuzzSupport

// config.json: any bytes give a config within the limits, or a one-line error.
runFuzzTarget { input in
    let config = try FuzzEntryPoints.config(input)
    if config.parameterCount > BertConfig.limits.parameters || config.hiddenSize % config.numAttentionHeads != 0 {
        findingFound("accepted a config beyond the limits: \(config)", input: input)
    }
}
