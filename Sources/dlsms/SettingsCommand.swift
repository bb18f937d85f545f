import ArgumentParser
import DLSMSAssembly

/// `dlsms settings`: the settings table of `dlsms serve` as the docs show it, or as a sample
/// configuration file, printed from the table the server parses with.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Print every setting of dlsms serve: a Markdown table or a sample --config file.",
        discussion:
            "docs/configuration.md holds the table and deploy/dlsms.example.yaml the file; a test keeps both equal to this output."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown
        case yaml
    }

    @Option(help: "markdown | yaml") var format: Format = .yaml

    func run() {
        print(format == .markdown ? ServerSettings.markdownTable : ServerSettings.sampleFile, terminator: "")
    }
}
