import Bertology
import Foundation

/// A batch scheduler a reproduction's stages can be handed to, one job per stage (`reproduce --plan`).
/// The files are command lines of this tool, so the CLI writes them; the library gives the plan
/// (`Reproduction.plan`: stages and dependencies) and writes plan.json (`Reproduction.writePlan`).
enum ReproductionScheduler: String, Sendable, CaseIterable {
    /// `slurm/submit.sh`: one `sbatch` per stage, each after the stages it reads (`--dependency=afterok`),
    /// then the report after all of them.
    case slurm
    /// `k8s/<NN>-<stage>.yaml`: one batch/v1 Job per stage; Kubernetes has no dependencies between
    /// Jobs, so each waits (an init container) for its dependencies' stage.json in the shared folder.
    case k8s
}

extension Reproduction {
    /// Writes `plan.json` and the scheduler's files into `folder`; each job runs `command` (this run's
    /// `bertology reproduce` with its options and `--out`) with `--stage ID --resume`, and the last one
    /// with `--stage report --resume`, so the report is the one a single-machine run writes.
    /// - Returns: the files written, relative to `folder`.
    /// - Throws: as `run(writingTo:...)` for a folder of another run.
    func writeSchedulerPlan(_ scheduler: ReproductionScheduler, into folder: URL, command: [String],
                                   resume: Bool, force: Bool) throws -> [String] {
        try writePlan(into: folder, resume: resume, force: force)
        switch scheduler {
        case .slurm:
            let name = "slurm/submit.sh"
            let url = folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(slurmScript(command: command, folder: folder), to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
            return [Reproduction.planFileName, name]
        case .k8s:
            let manifests = kubernetesJobs(command: command, folder: folder)
            let directory = folder.appendingPathComponent("k8s")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, text) in manifests { try AtomicFile.write(text, to: directory.appendingPathComponent(name)) }
            return [Reproduction.planFileName] + manifests.map { "k8s/\($0.name)" }
        }
    }

    /// A word for a POSIX shell, single-quoted when it needs to be.
    static func shellWord(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "/._-=,:+@".contains($0) } && !word.isEmpty
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    func slurmScript(command: [String], folder: URL) -> String {
        let run = command.map(Self.shellWord).joined(separator: " ")
        var lines = [
            "#!/usr/bin/env bash",
            "# Submits this reproduction to Slurm: one job per stage, each after the stages it reads",
            "# (--dependency=afterok), then the report after all of them. Each job runs the stage with",
            "# --resume, so a job that failed or was cancelled can be submitted again and continues.",
            "# Written by bertology reproduce --plan slurm; extra sbatch options: SBATCH_OPTIONS=\"--partition=x\".",
            "set -euo pipefail",
            "run=\(Self.shellWord(run))",
            "logs=\(Self.shellWord(folder.standardizedFileURL.appendingPathComponent("slurm").path))",
            "mkdir -p \"$logs\"",
            "submit() { # job name, dependency option (or empty), stage",
            "  sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=\"$1\" --output=\"$logs/$1-%j.log\" $2 --wrap \"$run --stage '$3' --resume\"",
            "}",
        ]
        var jobs: [String: String] = [:]
        for (index, stage) in plan.stages.enumerated() {
            let variable = "job\(index)"
            jobs[stage.id] = variable
            let after = stage.dependencies.compactMap { jobs[$0] }.map { "$\($0)" }
            let dependency = after.isEmpty ? "''" : "--dependency=afterok:" + after.joined(separator: ":")
            lines.append("\(variable)=$(submit \(Self.jobName(stage.id)) \(dependency) \(Self.shellWord(stage.id)))")
        }
        let all = plan.stages.indices.map { "$job\($0)" }.joined(separator: ":")
        lines.append("report=$(submit reproduce-report \(all.isEmpty ? "''" : "--dependency=afterok:" + all) report)")
        lines.append("echo \"submitted \(plan.stages.count + 1) jobs; the report is job $report (logs in $logs)\"")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `reproduce-mrpc-finetune-pretrained-s42`: a job (and Kubernetes object) name.
    static func jobName(_ stage: String) -> String {
        "reproduce-" + String(stage.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    func kubernetesJobs(command: [String], folder: URL) -> [(name: String, text: String)] {
        let out = folder.standardizedFileURL.path
        let model = options.model.standardizedFileURL.path, data = options.dataFolder.standardizedFileURL.path
        func yamlList(_ words: [String], indent: String) -> String {
            words.map { "\(indent)- \"\($0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: "\n")
        }
        var manifests: [(String, String)] = []
        for (index, id) in (plan.stages.map(\.id) + [Reproduction.reportStage]).enumerated() {
            let dependencies = id == Reproduction.reportStage ? plan.stages.map(\.id) : plan.stage(id)!.dependencies
            let name = Self.jobName(id)
            var text = """
            # Stage \(id) of this reproduction (bertology reproduce --plan k8s). Apply every file of this
            # folder at once: each Job waits for the stage.json of the stages it reads in the shared folder.
            # BERTOLOGY_IMAGE: an image with bertology on its PATH; the run's folder, the model and the data
            # must be at the same paths in the pods (here: hostPath volumes of one node).
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: \(name)
              labels:
                app.kubernetes.io/name: bertology-reproduce
            spec:
              backoffLimit: 2
              template:
                spec:
                  restartPolicy: Never

            """
            if !dependencies.isEmpty {
                let checks = dependencies.map { "test -f '\(out)/\($0)/\(Reproduction.stageFileName)'" }.joined(separator: " && ")
                text += """
                      initContainers:
                        - name: wait
                          image: busybox:1.36
                          command: ["sh", "-c", "until \(checks.replacingOccurrences(of: "\"", with: "\\\"")); do sleep 30; done"]
                          volumeMounts:
                            - name: run
                              mountPath: "\(out)"

                """
            }
            text += """
                  containers:
                    - name: stage
                      image: BERTOLOGY_IMAGE
                      command:
            \(yamlList(["bertology"] + command.dropFirst() + ["--stage", id, "--resume"], indent: "                "))
                      volumeMounts:
                        - name: run
                          mountPath: "\(out)"
                        - name: model
                          mountPath: "\(model)"
                          readOnly: true
                        - name: data
                          mountPath: "\(data)"
                          readOnly: true
                  volumes:
                    - name: run
                      hostPath:
                        path: "\(out)"
                        type: DirectoryOrCreate
                    - name: model
                      hostPath:
                        path: "\(model)"
                        type: Directory
                    - name: data
                      hostPath:
                        path: "\(data)"
                        type: Directory

            """
            manifests.append((String(format: "%02d-", index) + name + ".yaml", text))
        }
        return manifests
    }
}
