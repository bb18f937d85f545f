/// The web app's files (`public/`), compiled into the binary by SwiftPM (`embedInCode`). A new file
/// in `public/` needs its line here (a test fails until it has one); a new language is one
/// `strings-<language>.js` file and its line.
public enum WebFiles {
    public static let all: [(name: String, bytes: [UInt8])] = [
        ("index.html", PackageResources.index_html),
        ("app.css", PackageResources.app_css),
        ("app.js", PackageResources.app_js),
        ("api.js", PackageResources.api_js),
        ("dom.js", PackageResources.dom_js),
        ("i18n.js", PackageResources.i18n_js),
        ("strings-en.js", PackageResources.strings_en_js),
        ("strings-de.js", PackageResources.strings_de_js),
        ("strings-zh-CN.js", PackageResources.strings_zh_CN_js),
        ("find.js", PackageResources.find_js),
        ("seatmap.js", PackageResources.seatmap_js),
        ("mine.js", PackageResources.mine_js),
        ("rules.js", PackageResources.rules_js),
        ("mydata.js", PackageResources.mydata_js),
        ("live.js", PackageResources.live_js),
        ("staff.js", PackageResources.staff_js),
        ("groups.js", PackageResources.groups_js),
        ("audit.js", PackageResources.audit_js),
        ("charts.js", PackageResources.charts_js),
        ("icon.svg", PackageResources.icon_svg),
        ("privacy-notice.html", PackageResources.privacy_notice_html),
        ("display.js", PackageResources.display_js),
    ]
}
