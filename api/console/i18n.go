package console

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"fiveid/match"
)

// messages holds every text the console shows, in Chinese (the default)
// and English; a test keeps both languages complete.
var messages = map[string][2]string{ // key: {zh, en}
	"nav.console": {"控制台", "console"}, "nav.label": {"主导航", "Main navigation"}, "nav.signout": {"退出", "Sign out"},
	"nav.skip":   {"跳到正文", "Skip to content"},
	"role.admin": {"数据管理员", "Data steward"}, "role.auditor": {"审计员", "Auditor"},

	"signin.title": {"登录", "Sign in"}, "signin.key": {"您的 API 密钥", "Your API key"},
	"signin.hint":   {"使用您本人的管理员或审计员密钥；系统密钥不能登录。", "Use your own admin or auditor key; system keys cannot sign in."},
	"signin.submit": {"登录", "Sign in"}, "signin.expired": {"会话已过期，请重新登录。", "Your session expired: sign in again."},
	"signin.bad_key":    {"密钥无效或已吊销。", "This key is unknown or revoked."},
	"signin.system_key": {"系统密钥不能登录控制台：请使用您本人的管理员或审计员密钥。", "A system key cannot sign in: use your own admin or auditor key."},

	"error.title": {"出错了", "Something went wrong"}, "error.home": {"返回首页", "Back to the start page"},
	"err.csrf":                    {"表单已失效（CSRF 令牌不符），请重新打开页面后再试。", "The form is no longer valid (CSRF token mismatch): reload the page and try again."},
	"err.unauthenticated":         {"需要登录。", "Sign-in required."},
	"err.forbidden":               {"您的角色无权进行此操作。", "Your role may not do this."},
	"err.policy_denied":           {"没有策略允许此授权。", "No policy allows this grant."},
	"err.no_match":                {"没有匹配的客户。", "No customer matches."},
	"err.not_found":               {"未找到。", "Not found."},
	"err.needs_review":            {"仅为可能匹配，需要人工审核。", "Only a possible match: it needs review."},
	"err.identifier_conflict":     {"两位客户的记录持有同一类型的不同有效证件号码（两个人）：合并需要勾选“强制合并”并填写理由。", "The customers' records hold different valid identifiers of one kind (two people): merging needs an override and a reason."},
	"err.conflict":                {"与当前状态冲突，请刷新后再试。", "Conflicts with the current state: reload and try again."},
	"err.unavailable":             {"后端服务暂不可用，请稍后再试。", "A backing service is unavailable: try again later."},
	"err.invalid":                 {"请求无效。", "Invalid request."},
	"err.validation_failed":       {"有字段无效：", "Some fields are invalid:"},
	"err.bad_request":             {"请求无效。", "Invalid request."},
	"err.internal":                {"内部错误，已记录日志。", "Internal error; it has been logged."},
	"err.idempotency_key_reused":  {"幂等键已被另一请求使用。", "The idempotency key was used for another request."},
	"err.idempotency_in_progress": {"同一请求仍在处理中。", "The same request is still running."},
	"err.rate_limited":            {"请求过多，请稍后再试。", "Too many requests: try again later."},
	"err.too_large":               {"请求过大。", "Request too large."},
	"err.method_not_allowed":      {"不支持此方法。", "Method not allowed."},
	"err.unsupported_media_type":  {"不支持的内容类型。", "Unsupported content type."},
	"err.invalid_idempotency_key": {"幂等键无效。", "Invalid idempotency key."},

	"dashboard.title": {"概览", "Dashboard"}, "dashboard.open_tasks": {"待审核任务", "Open review tasks"},
	"dashboard.oldest": {"最早的任务", "Oldest task"}, "dashboard.systems": {"来源系统", "Source systems"},
	"dashboard.webhooks": {"Webhook 投递", "Webhook delivery"}, "dashboard.failing": {"投递失败中", "Failing"},
	"dashboard.customers": {"客户", "Customers"}, "dashboard.this_week": {"本周", "This week"},
	"dashboard.since": {"自", "Since"}, "dashboard.links": {"关联", "Links"},
	"dashboard.merges": {"合并", "Merges"}, "dashboard.records": {"各系统的来源记录", "Source records by system"},
	"dashboard.record_count": {"记录数", "Records"}, "dashboard.grades": {"记录的关联等级", "How records are linked"},
	"dashboard.grade": {"等级", "Grade"}, "dashboard.grade_new": {"新建客户（未与已有客户关联）", "Started a new customer"},
	"dashboard.grade_manual": {"人工关联", "Linked by a steward"},
	"dashboard.verified_at":  {"最近一次校验：", "Last verified"},
	"dashboard.not_verified": {"本进程启动以来尚未校验。", "Not verified since fiveid started."},
	"webhooks.delivered":     {"已投递", "Delivered"}, "webhooks.attempts": {"失败尝试", "Failed attempts"},
	"webhooks.last_error": {"最近错误", "Last error"},

	"queue.title": {"审核队列", "Review queue"}, "queue.status": {"状态", "Status"}, "queue.reason": {"原因", "Reason"},
	"queue.any": {"全部", "Any"}, "queue.count": {"任务数", "Tasks"}, "queue.task": {"任务", "Task"},
	"queue.created": {"创建时间", "Created"}, "queue.source": {"来源记录", "Source record"},
	"queue.empty": {"没有符合条件的任务。", "No tasks match."},
	"status.open": {"待处理", "Open"}, "status.resolved": {"已处理", "Resolved"},
	"reason.possible_match": {"登记时可能匹配", "Possible match at registration"},
	"reason.duplicate_scan": {"重复扫描", "Duplicate scan"},
	"filter.apply":          {"筛选", "Filter"}, "paging.next": {"下一页", "Next page"},

	"task.title": {"审核任务", "Review task"}, "task.score": {"得分", "Score"}, "task.tied": {"并列候选", "Tied candidates"},
	"task.compare": {"对比", "Compare"}, "task.explanation": {"匹配说明", "How they compare"},
	"task.side_by_side": {"两位客户逐项对比：比较级别与权重", "Both customers field by field: comparison level and weight"},
	"task.field":        {"字段", "Field"}, "task.customer": {"本客户", "This customer"}, "task.candidate": {"候选客户", "Candidate"},
	"task.level": {"比较级别", "Level"}, "task.weight": {"权重", "Weight"}, "task.total": {"总分", "Total score"},
	"task.rule": {"规则", "rule"}, "task.version": {"权重版本", "weights version"}, "task.conflict": {"证件冲突", "Identifier conflict"},
	"task.gone":    {"该客户已不存在（可能已被合并）。", "This customer no longer exists (merged away?)."},
	"task.resolve": {"处理", "Resolve"}, "task.preview_merge": {"预览合并", "Preview the merge"},
	"task.do.merge": {"合并", "Merge"}, "task.do.link": {"关联到候选客户", "Link to the candidate"},
	"task.do.not_duplicate": {"不是重复", "Not a duplicate"}, "task.do.keep_separate": {"暂时分开", "Keep separate"},
	"task.resolved_as":    {"已处理为", "Resolved as"},
	"task.resolved.merge": {"已合并。任务", "Merged. Task"}, "task.resolved.link": {"已关联。任务", "Linked. Task"},
	"task.resolved.not_duplicate": {"已标记为不是重复。任务", "Marked not a duplicate. Task"},
	"task.resolved.keep_separate": {"已保持分开。任务", "Kept separate. Task"},
	"task.stale":                  {"此任务已被他人处理或已变化，下面是它的当前状态。", "Someone resolved or changed this task meanwhile: this is its current state."},

	"preview.title": {"合并预览", "Merge preview"}, "preview.from": {"被合并", "Merging"}, "preview.into": {"合并到", "into"},
	"preview.moved":     {"移动的记录", "Records moved"},
	"preview.conflicts": {"证件冲突：两条记录持有同一类型的不同有效号码。", "Identifier conflicts: records hold different valid numbers of one kind."},
	"preview.override":  {"强制合并（我已核实是同一人）", "Override (I checked they are one person)"},
	"preview.reason":    {"理由（必填，最多 500 字）", "Reason (required, at most 500 characters)"},
	"merge.done":        {"已合并：", "Merged:"}, "merge.undone": {"已撤销合并，恢复客户", "Merge undone; restored customer"},

	"search.title": {"客户查询", "Find a customer"}, "search.by_id": {"按客户 ID", "By customer ID"},
	"search.by_local": {"按系统与本地 ID", "By system and local ID"}, "search.customer_id": {"客户 ID", "Customer ID"},
	"search.submit":        {"查询", "Find"},
	"search.by_elements":   {"按五要素", "By the five elements"},
	"search.elements_hint": {"与身份识别相同的匹配；不签发授权。每次查询都记入授权日志。", "The same matching as identify; no grant is issued. Every search is written to the grant log."},
	"search.results":       {"查询结果", "What the search found"}, "search.decision": {"识别结论", "Identify would decide"},
	"search.none": {"没有候选客户。", "No candidate customers."}, "search.logged": {"此次查询已记入授权日志。", "This search was written to the grant log."},
	"search.candidates": {"候选客户", "Candidate customers"},

	"customer.title": {"客户", "Customer"}, "customer.deceased": {"已故", "deceased"},
	"customer.merged_from": {"由以下客户合并而来", "Merged from"}, "customer.records": {"各系统的来源记录", "Source records by system"},
	"customer.system": {"系统", "System"}, "customer.local_id": {"本地 ID", "Local ID"}, "customer.link": {"关联方式", "Link"},
	"customer.manual": {"人工", "manual"}, "customer.record": {"记录", "Record"},
	"customer.death": {"死亡", "Death"}, "customer.merges": {"合并", "Merges"}, "customer.no_merges": {"没有合并。", "No merges."},
	"customer.unmerge": {"撤销合并", "Unmerge"}, "customer.merge_into": {"把此客户合并到…", "Merge this customer into…"},
	"customer.link_record": {"人工关联一条记录", "Link a record by hand"}, "customer.link_submit": {"关联", "Link"},
	"customer.unlink_record": {"取消关联", "Unlink a record"}, "customer.unlink_submit": {"取消关联", "Unlink"},
	"customer.record_death": {"登记死亡", "Record a death"}, "customer.death_date": {"死亡日期", "Date of death"},
	"customer.death_source": {"来源（可选）", "Source (optional)"}, "customer.death_submit": {"登记", "Record"},
	"customer.history": {"历史", "History"}, "customer.before_after": {"变更前后", "Before and after"},
	"customer.before": {"变更前", "Before"}, "customer.after": {"变更后", "After"},
	"customer.reveal":         {"显示完整证件号码（记入授权日志）", "Show the full ID number (written to the grant log)"},
	"customer.revealed":       {"完整证件号码（已记入授权日志）：", "Full ID number (written to the grant log):"},
	"customer.death_recorded": {"已登记死亡。", "Death recorded."}, "customer.linked": {"已关联。", "Linked."},
	"customer.unlinked": {"已取消关联，记录现属客户", "Unlinked; the record now belongs to"},
	"change.created":    {"创建", "Created"}, "change.linked": {"关联", "Linked"}, "change.unlinked": {"取消关联", "Unlinked"},
	"change.merged": {"合并", "Merged"}, "change.unmerged": {"撤销合并", "Unmerged"}, "change.edited": {"更新", "Updated"},
	"change.death_recorded": {"登记死亡", "Death recorded"},

	"field.name": {"姓名", "Name"}, "field.sex": {"性别", "Sex"}, "field.birth_date": {"出生日期", "Birth date"},
	"field.id_type": {"证件类型", "ID type"}, "field.id_number": {"证件号码", "ID number"}, "field.id": {"证件号码", "ID number"},
	"sex.male": {"男", "male"}, "sex.female": {"女", "female"}, "sex.unknown": {"未知", "unknown"},
	"grade.certain": {"确定", "certain"}, "grade.probable": {"很可能", "probable"}, "grade.possible": {"可能", "possible"},
	"grade.": {"—", "—"}, "grade.none": {"不匹配", "no match"},
	"grade.certainly-not": {"确定不是", "certainly not"},

	"level.equal": {"相同", "equal"}, "level.typo": {"一处笔误", "one typo"}, "level.other_namespace": {"不同证件类型", "other document kind"},
	"level.different": {"不同", "different"}, "level.different_weak": {"不同（无校验位）", "different (no checksum)"},
	"level.missing": {"缺失", "missing"}, "level.variant": {"繁简/间隔号变体", "variant"}, "level.wildcard": {"通配字符", "wildcard"},
	"level.pinyin_equal": {"拼音相同", "same pinyin"}, "level.close": {"相近", "close"}, "level.partial": {"部分相同", "partial"},
	"level.placeholder": {"占位姓名", "placeholder"}, "level.swapped": {"日月颠倒", "day and month swapped"},
	"level.one_off": {"一位数字不同", "one digit off"}, "level.near": {"相差三天内", "within three days"},
	"level.lunar": {"农历/公历", "lunar/solar"}, "level.partial_equal": {"年或月相同", "same year or month"},
	"field.prior": {"先验（索引规模）", "Prior (index size)"}, "level.index_size": {"随索引规模而定", "set by the index size"},
	"level.agree": {"一致", "agree"}, "level.disagree": {"不一致", "disagree"},

	"systems.title": {"来源系统", "Systems"}, "systems.code": {"代码", "Code"}, "systems.name": {"名称", "Name"},
	"systems.kind": {"类型", "Kind"}, "systems.id_table": {"证件类型代码表", "ID-type code table"}, "systems.auto": {"自动", "automatic"},
	"systems.create": {"登记系统", "Register a system"}, "systems.created": {"已登记系统", "Registered system"},
	"kind.medical": {"医疗", "medical"}, "kind.eldercare": {"养老", "elder care"}, "kind.funeral": {"殡葬", "funeral"}, "kind.other": {"其他", "other"},
	"keys.title": {"API 密钥", "API keys"}, "keys.name": {"名称（使用者）", "Name (who uses it)"}, "keys.role": {"角色", "Role"},
	"keys.system": {"系统（仅系统密钥）", "System (system keys only)"}, "keys.create": {"创建密钥", "Create a key"},
	"keys.created": {"新密钥（只显示这一次，请妥善保存）：", "The new key (shown this once, keep it safe):"},
	"keys.revoke":  {"吊销", "Revoke"}, "keys.revoke_grants": {"同时吊销其授权", "and its grants"},
	"keys.revoked": {"已吊销密钥；吊销的授权数：", "Key revoked; grants revoked:"}, "role.system": {"系统", "System"},
	"policies.title": {"授权策略", "Policies"}, "policies.purposes": {"目的", "Purposes"}, "policies.max_ttl": {"最长有效期", "Longest life"},
	"policies.delete": {"删除", "Delete"}, "policies.create": {"新建策略", "Create a policy"},
	"policies.scopes_hint": {"范围（空格分隔）", "Scopes (space-separated)"}, "policies.purposes_hint": {"目的（空格分隔）", "Purposes (space-separated)"},
	"policies.max_ttl_seconds": {"最长有效期（秒）", "Longest life (seconds)"},
	"policies.created":         {"已新建策略", "Created policy"}, "policies.deleted": {"已删除策略", "Deleted policy"},
	"webhooks.title": {"Webhook", "Webhooks"}, "webhooks.failing_since": {"失败开始于", "Failing since"},
	"webhooks.delete": {"删除", "Delete"}, "webhooks.create": {"新建 Webhook", "Create a webhook"},
	"webhooks.created": {"签名密钥（只显示这一次）：", "Signing secret (shown this once):"}, "webhooks.deleted": {"已删除 Webhook", "Deleted webhook"},

	"audit.title": {"授权日志", "Grant log"}, "audit.customer": {"客户", "Customer"}, "audit.system": {"系统", "System"},
	"audit.action": {"动作", "Action"}, "audit.from": {"起始日期", "From"}, "audit.to": {"截止日期", "To"},
	"audit.time": {"时间", "Time"}, "audit.actor": {"操作者", "Actor"}, "audit.grant": {"授权", "Grant"},
	"audit.detail": {"详情", "Detail"}, "audit.grade": {"匹配等级", "Grade"}, "audit.purpose": {"目的", "Purpose"},
	"audit.scopes": {"范围", "Scopes"}, "audit.request": {"请求 ID", "Request ID"}, "audit.subject": {"主体（HMAC）", "Subject (HMAC)"},
	"audit.empty":      {"没有符合条件的条目。", "No entries match."},
	"audit.export_csv": {"导出 CSV", "Export CSV"}, "audit.export_ndjson": {"导出 NDJSON", "Export NDJSON"},
	"entry.title": {"日志条目", "Log entry"}, "entry.hash": {"本条哈希", "Hash"}, "entry.prev_hash": {"上一条哈希", "Previous hash"},
	"entry.prev": {"上一条", "Previous"}, "entry.next": {"下一条", "Next"},
	"verify.title": {"校验日志链", "Verify the chain"}, "verify.run": {"校验日志链", "Verify the chain"},
	"verify.again": {"再次校验", "Verify again"}, "verify.ok": {"日志链完整。", "The chain is intact."},
	"verify.broken":  {"日志链已损坏，第一个损坏的条目：", "The chain is broken; first broken entry:"},
	"verify.entries": {"条目数", "Entries"}, "verify.head": {"最新哈希", "Head hash"},

	"grants.title": {"授权", "Grants"}, "grants.grantee": {"被授权系统", "Grantee"}, "grants.issued": {"签发", "Issued"},
	"grants.expires": {"到期", "Expires"}, "grants.revoke": {"吊销", "Revoke"}, "grants.revoked": {"已吊销授权", "Revoked grant"},
	"grants.empty": {"没有符合条件的授权。", "No grants match."},
	"grant.active": {"有效", "active"}, "grant.revoked": {"已吊销", "revoked"}, "grant.expired": {"已过期", "expired"},
}

// missing marks a key without a text: tests look for it on every page.
const missing = "⟦"

// T is the page's text for key.
func (p *page) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return missing + key + "⟧"
	}
	if p.Lang == "en" {
		return m[1]
	}
	return m[0]
}

// Enum is the text of a stored value (sex.female), or the value itself
// when it has none.
func (p *page) Enum(prefix, v string) string {
	if _, ok := messages[prefix+"."+v]; !ok {
		return v
	}
	return p.T(prefix + "." + v)
}

// Time shows t in the console's time zone, in the language's usual form.
func (p *page) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t = t.In(p.loc)
	if p.Lang == "en" {
		return t.Format("2 Jan 2006 15:04")
	}
	return t.Format("2006年1月2日 15:04")
}

// Actor shows the key that acted by its name with its ID, 张三 (key_01H…);
// a key that is gone (or a non-key actor such as "setup") by its ID alone.
func (p *page) Actor(id string) string {
	if id == "" {
		return ""
	}
	if p.names == nil && p.loadNames != nil {
		p.names, p.loadNames = p.loadNames(), nil
	}
	if n := p.names[id]; n != "" {
		return n + " (" + id + ")"
	}
	return id
}

// Num groups digits by thousands (both languages write 12,345).
func (p *page) Num(n int) string { return p.Num64(int64(n)) }

func (p *page) Num64(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (p *page) Score(f float64) string  { return strconv.FormatFloat(f, 'f', 2, 64) }
func (p *page) Weight(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

var funcs = template.FuncMap{
	"mask": match.MaskID,
	"join": strings.Join,
	"list": func(v ...string) []string { return v },
	"inc":  func(n int64) int64 { return n + 1 },
	"dec":  func(n int64) int64 { return n - 1 },
	// dict passes a page and a value to a partial template.
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}
