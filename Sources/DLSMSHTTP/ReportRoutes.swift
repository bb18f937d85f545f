import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// `/admin/reports/utilisation` (JSON or CSV) and `/admin/reservations.csv` (streamed).
package func addReportRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.get("/admin/reports/utilisation") { request, context -> Response in
        _ = try context.requireAdmin()
        let now = engine.clock.now()
        let to = try request.queryTime("to") ?? now
        let from = try request.queryTime("from") ?? to - 7 * Seconds.day
        let granularity: UtilisationQuery.Granularity
        switch request.query("granularity") ?? "day" {
        case "hour": granularity = .hour
        case "day": granularity = .day
        default: throw APIError.badRequest("granularity must be hour or day")
        }
        let csv = try Report.wantsCSV(request)
        let report = try await engine.utilisation(
            UtilisationQuery(branch: request.query("branch"), from: from, to: to, granularity: granularity))
        if csv { return utilisationCSV(report) }
        return utilisationJSON(report, from: from, to: to, granularity: granularity)
    }

    // Every reservation in memory matching the filters of GET /reservations, streamed as CSV.
    api.get("/admin/reservations.csv") { request, context -> Response in
        _ = try context.requireAdmin()
        let filter = try ReservationFilter(request)
        return Report.csvStream(
            filename: "reservations.csv",
            header: "id,seat_id,user_id,start_time,end_time,status,created_at,checked_in_at"
        ) { emit in
            try await engine.forEachReservation(matching: filter) { chunk in
                var text = ""
                for r in chunk {
                    text += "\(r.id),\(r.seatID),\(r.userID),\(RFC3339.format(r.start)),\(RFC3339.format(r.end)),"
                    text +=
                        "\(r.status.name),\(RFC3339.format(r.createdAt)),\(r.checkedInAt.map(RFC3339.format) ?? "")\r\n"
                }
                try await emit(text)
            }
        }
    }
}

/// The utilisation report as CSV: its rows (the heatmap is in the JSON only).
private func utilisationCSV(_ report: UtilisationReport) -> Response {
    var text = "branch,area,bucket_start,booked_hours,occupied_hours,no_shows,cancellations\r\n"
    for r in report.rows {
        let f = r.figures
        text +=
            [
                CatalogCSV.cell(r.branch), CatalogCSV.cell(r.area), RFC3339.format(r.bucketStart),
                Report.hours(f.bookedSeconds), Report.hours(f.occupiedSeconds), String(f.noShows),
                String(f.cancellations),
            ].joined(separator: ",") + "\r\n"
    }
    return Report.csv(text, filename: "utilisation.csv")
}

/// The utilisation report as JSON: the buckets and the heatmap.
private func utilisationJSON(
    _ report: UtilisationReport, from: Timestamp, to: Timestamp, granularity: UtilisationQuery.Granularity
) -> Response {
    Render.response {
        $0.object {
            $0.time("from", from)
            $0.time("to", to)
            $0.field("granularity", granularity.rawValue)
            $0.field("buckets", array: report.rows) { w, r in
                w.object {
                    $0.field("branch", r.branch)
                    $0.field("area", r.area)
                    $0.time("bucket_start", r.bucketStart)
                    Report.figures(r.figures, &$0)
                }
            }
            $0.field("heatmap", array: report.heatmap) { w, c in
                w.object {
                    $0.field("branch", c.branch)
                    $0.field("weekday", OpeningHours.weekdayNames[c.weekday])
                    $0.field("hour", c.hour)
                    $0.field("booked_hours", number: Report.hours(c.bookedSeconds))
                    $0.field("booked_seconds", c.bookedSeconds)
                }
            }
        }
    }
}

package enum Report {
    /// `format=csv`, or an `Accept` that asks for `text/csv` (and not JSON first).
    package static func wantsCSV(_ request: Request) throws(APIError) -> Bool {
        switch request.query("format") {
        case "csv"?: return true
        case "json"?: return false
        case nil:
            let accept = request.headers[.accept] ?? ""
            return accept.contains("text/csv") && !accept.hasPrefix("application/json")
        default: throw APIError.badRequest("format must be json or csv")
        }
    }

    /// Seconds as hours with two decimals ("1.25").
    package static func hours(_ seconds: Int64) -> String {
        let hundredths = (seconds * 100 + 1_800) / 3_600
        let cents = hundredths % 100
        return "\(hundredths / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    package static func figures(_ f: UtilisationFigures, _ w: inout JSONWriter) {
        w.field("booked_hours", number: hours(f.bookedSeconds))
        w.field("occupied_hours", number: hours(f.occupiedSeconds))
        w.field("booked_seconds", f.bookedSeconds)
        w.field("occupied_seconds", f.occupiedSeconds)
        w.field("no_shows", f.noShows)
        w.field("cancellations", f.cancellations)
    }

    /// A CSV answer written as it is made: `header`, then what `produce` emits; an attachment,
    /// never cached (it names people).
    package static func csvStream(
        filename: String, header: String,
        _ produce: @escaping @Sendable (_ emit: (String) async throws -> Void) async throws -> Void
    ) -> Response {
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: header + "\r\n"))
            try await produce { try await writer.write(ByteBuffer(string: $0)) }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(filename)\"",
                .cacheControl: "no-store",
            ],
            body: body)
    }

    package static func csv(_ text: String, filename: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(filename)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension ReservationFilter {
    /// The filters of `GET /reservations`: `status`, `seat_id`, `user_id`.
    package init(_ request: Request) throws(APIError) {
        self.init(
            status: try APIError.mapping { () throws(AppError) in try parseStatus(request.query("status")) },
            seatID: try request.queryInt("seat_id", range: Int64(Int32.min)...Int64(Int32.max)).map { SeatID($0) },
            userID: try request.queryInt("user_id", range: Int64(Int32.min)...Int64(Int32.max)).map { UserID($0) })
    }
}
