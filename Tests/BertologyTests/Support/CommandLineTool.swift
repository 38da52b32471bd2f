import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `bertology` executable as a user would, for tests of exit statuses, messages and
/// output bytes. `swift test` builds it beside the test bundle.
enum CommandLineTool {
    struct Result: Sendable {
        /// The exit status, or nil when the process ended by a signal (a crash) or timed out.
        let status: Int32?
        /// The signal that ended the process, if one did.
        let signal: Int32?
        let timedOut: Bool
        let stdout: Data
        let stderr: Data
        var stderrText: String { String(decoding: stderr, as: UTF8.self) }
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// `$BERTOLOGY_CLI`, else `bertology` in the folder of the running test bundle.
    static let executable: URL = {
        if let path = ProcessInfo.processInfo.environment["BERTOLOGY_CLI"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        // swift test runs .build/<triple>/debug/BertologyPackageTests.xctest (a file on Linux).
        if folder.lastPathComponent.hasSuffix(".xctest") { folder.deleteLastPathComponent() }
        return folder.appendingPathComponent("bertology")
    }()

    /// Runs `bertology arguments...` in `folder`, with `environment` added to this process's, and
    /// ends it (SIGKILL) after `timeout` seconds.
    static func run(_ arguments: [String], environment: [String: String] = [:], in folder: URL? = nil,
                    timeout: TimeInterval = 120) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files, not pipes: a large stdout can never block the child while we wait for it.
        let stdoutURL = scratch.appendingPathComponent("stdout"), stderrURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL), stderr = try FileHandle(forWritingTo: stderrURL)

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let folder { process.currentDirectoryURL = folder }
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let timedOut = finished.wait(timeout: .now() + timeout) == .timedOut
        if timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        try stdout.close()
        try stderr.close()
        let bySignal = process.terminationReason == .uncaughtSignal
        return Result(status: bySignal || timedOut ? nil : process.terminationStatus,
                      signal: bySignal ? process.terminationStatus : nil, timedOut: timedOut,
                      stdout: try contents(stdoutURL), stderr: try contents(stderrURL))
    }

    /// Data(contentsOf:) leaks a 4 KiB buffer on an empty file (swift-foundation, Swift 6.3.1;
    /// tools/sanitizers/lsan.supp): stderr is often empty.
    private static func contents(_ url: URL) throws -> Data {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        return try handle.readToEnd() ?? Data()
    }
}
