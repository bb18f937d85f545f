import ArgumentParser
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation

/// `dlsms catalog …`: the catalog of a data directory as CSV
/// (`branch,area,seat_label,has_power,has_monitor,accessible,x,y`).
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Import or export the catalog (branches, areas, seats) as CSV.",
        subcommands: [Import.self, Export.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Import seats from a CSV file (offline: the server must be stopped). Every row is checked first; nothing is applied if any line is wrong."
        )
        @OptionGroup var options: DataDirOption
        @Argument(help: "The CSV file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw fail("cannot read \(file)") }
            guard let text = String(data: data, encoding: .utf8) else { throw fail("\(file) is not UTF-8 text") }
            let rows: [CatalogCSV.Row]
            do throws(CatalogCSV.Problems) {
                rows = try CatalogCSV.parse(text)
            } catch {
                for line in error.lines { FileHandle.standardError.write(Data("\(file): \(line)\n".utf8)) }
                throw fail("nothing imported: \(error.lines.count) problem\(error.lines.count == 1 ? "" : "s")")
            }
            let outcome = try await withDataDirectory(options.dataDir) { engine in
                try await CatalogCSV.apply(rows, to: engine)
            }
            print(
                "imported \(rows.count) rows: \(outcome.branchesCreated) branches and \(outcome.seatsCreated) seats created, \(outcome.seatsUpdated) seats updated"
            )
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the catalog as CSV to standard output or a file (read-only; works while the server runs).")
        @OptionGroup var options: DataDirOption
        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

        func run() async throws {
            let engine = try await readOnlyEngine(options.dataDir)
            let text = await CatalogCSV.export(engine)
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                    throw fail("cannot write \(output)")
                }
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }
}
