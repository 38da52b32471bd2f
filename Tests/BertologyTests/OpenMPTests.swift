import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

@Suite struct OpenMPTests {
    /// docs/BUILD.md: `-fopenmp=libgomp` or a missing flag silently gives one thread. This fails then.
    @Test func openMPIsCompiledInAndRunsTwoThreads() {
        #expect(Kernels.openMPEnabled)
        let previous = Kernels.maxThreads
        Kernels.setThreads(2)
        defer { Kernels.setThreads(previous) }
        #expect(Kernels.observedThreads() == 2)
    }
}
