import Bertology
@_spi(Fuzzing) import BertologyEngine
import FuzzSupport

// tokenizer_config.json: any bytes give tokenizer options or a one-line error.
runFuzzTarget { input in
    _ = try FuzzEntryPoints.tokenizerOptions(input)
}
