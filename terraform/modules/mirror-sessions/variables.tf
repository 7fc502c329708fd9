variable "name" {
  description = "Name used in descriptions and Name tags."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$", var.name))
    error_message = "name must be 1-64 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "traffic_mirror_target_id" {
  description = "Traffic Mirror target (tmt-...) that receives the mirrored packets, normally the mirror-target module's output."
  type        = string

  validation {
    condition     = can(regex("^tmt-[0-9a-f]{8,17}$", var.traffic_mirror_target_id))
    error_message = "traffic_mirror_target_id must look like tmt-0123456789abcdef0."
  }
}

variable "filter_rules" {
  description = <<-EOT
    Traffic Mirror filter rules. Each: rule_number (1-32766, unique per direction, lowest first; the first
    matching rule decides), direction (ingress|egress), action (accept|reject), protocol (IANA number
    0-255; null = all protocols), source_cidr_block and destination_cidr_block (required by AWS; defaults
    0.0.0.0/0; IPv4 or IPv6, both of one family: a rule matches one address family, so mirroring IPv6
    needs its own rules with ::/0 or IPv6 blocks), optional source_port_range / destination_port_range
    ({from_port, to_port}, TCP(6) and UDP(17) only), description. At most 10 rules per direction (an
    AWS quota). No rule in a direction means nothing is mirrored in that direction. The default accepts
    everything both ways, IPv4 (rules 100) and IPv6 (rules 200).
  EOT
  type = list(object({
    rule_number            = number
    direction              = string
    action                 = optional(string, "accept")
    protocol               = optional(number)
    source_cidr_block      = optional(string, "0.0.0.0/0")
    destination_cidr_block = optional(string, "0.0.0.0/0")
    source_port_range = optional(object({
      from_port = number
      to_port   = number
    }))
    destination_port_range = optional(object({
      from_port = number
      to_port   = number
    }))
    description = optional(string)
  }))
  default = [
    { rule_number = 100, direction = "ingress", description = "accept all inbound" },
    { rule_number = 100, direction = "egress", description = "accept all outbound" },
    # A rule matches one address family: without these, IPv6 traffic is not mirrored at all.
    { rule_number = 200, direction = "ingress", source_cidr_block = "::/0", destination_cidr_block = "::/0", description = "accept all inbound IPv6" },
    { rule_number = 200, direction = "egress", source_cidr_block = "::/0", destination_cidr_block = "::/0", description = "accept all outbound IPv6" },
  ]

  validation {
    condition     = alltrue([for r in var.filter_rules : contains(["ingress", "egress"], r.direction)])
    error_message = "filter_rules[*].direction must be \"ingress\" or \"egress\"."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : contains(["accept", "reject"], r.action)])
    error_message = "filter_rules[*].action must be \"accept\" or \"reject\"."
  }

  validation {
    condition     = length([for r in var.filter_rules : r if r.direction == "ingress"]) <= 10 && length([for r in var.filter_rules : r if r.direction == "egress"]) <= 10
    error_message = "A Traffic Mirror filter holds at most 10 rules per direction."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : r.rule_number == floor(r.rule_number) && r.rule_number >= 1 && r.rule_number <= 32766])
    error_message = "filter_rules[*].rule_number must be an integer from 1 to 32766."
  }

  validation {
    condition     = length(distinct([for r in var.filter_rules : "${r.direction}/${r.rule_number}"])) == length(var.filter_rules)
    error_message = "filter_rules[*].rule_number must be unique within a direction."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : r.protocol == null ? true : (r.protocol == floor(r.protocol) && r.protocol >= 0 && r.protocol <= 255)])
    error_message = "filter_rules[*].protocol must be null (all protocols) or an IANA protocol number from 0 to 255 (6 = TCP, 17 = UDP, 1 = ICMP)."
  }

  validation {
    # cidrhost, not cidrnetmask: cidrnetmask accepts IPv4 only and refused ::/0.
    condition     = alltrue([for r in var.filter_rules : can(cidrhost(r.source_cidr_block, 0)) && can(cidrhost(r.destination_cidr_block, 0))])
    error_message = "filter_rules[*].source_cidr_block and destination_cidr_block must be IPv4 or IPv6 CIDR blocks (for example 0.0.0.0/0 or ::/0)."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : strcontains(r.source_cidr_block, ":") == strcontains(r.destination_cidr_block, ":")])
    error_message = "filter_rules[*].source_cidr_block and destination_cidr_block must be of one address family (both IPv4 or both IPv6: set destination_cidr_block = \"::/0\" with an IPv6 source)."
  }

  validation {
    condition = alltrue([for r in var.filter_rules :
      (r.source_port_range == null && r.destination_port_range == null) || contains([6, 17], coalesce(r.protocol, -1))
    ])
    error_message = "filter_rules[*] port ranges are only allowed with protocol 6 (TCP) or 17 (UDP)."
  }

  validation {
    condition = alltrue(flatten([for r in var.filter_rules : [
      for pr in [r.source_port_range, r.destination_port_range] :
      pr == null ? true : (pr.from_port >= 0 && pr.to_port <= 65535 && pr.from_port <= pr.to_port)
    ]]))
    error_message = "filter_rules[*] port ranges need 0 <= from_port <= to_port <= 65535."
  }
}

variable "east_west_once" {
  description = "Store a conversation between two mirrored ENIs once instead of twice (once as the sender's egress, once as the receiver's ingress): egress to fleet_cidrs is not mirrored (one reject rule per block, rules 1..N, before filter_rules), so each such packet is stored once, as its receiver's ingress. Correct only if every address in fleet_cidrs is itself mirrored with ingress accepted: egress to an unmirrored address inside them is lost. See README, \"East-west traffic stored once\"."
  type        = bool
  default     = false
}

variable "fleet_cidrs" {
  description = "east_west_once: the CIDR blocks (IPv4 or IPv6) in which every address is a mirrored ENI, for example the subnets of the mirrored instances. Not a VPC block holding load balancers, NAT gateways, VPC endpoints, RDS or other requester-managed interfaces, which cannot be mirrored: egress to them would be lost. At most 10 minus the egress rules of filter_rules (8 with the default rules). Ignored without east_west_once."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.fleet_cidrs : can(cidrhost(c, 0))])
    error_message = "fleet_cidrs must hold IPv4 or IPv6 CIDR blocks."
  }

  validation {
    # 0.0.0.0/0 or ::/0 would reject all egress: everything sent to the internet or any
    # unmirrored address would be lost.
    condition     = alltrue([for c in var.fleet_cidrs : try(tonumber(split("/", c)[1]), 1) > 0])
    error_message = "fleet_cidrs must not hold 0.0.0.0/0 or ::/0: egress to every unmirrored address would be lost."
  }

  validation {
    condition     = length(distinct(var.fleet_cidrs)) == length(var.fleet_cidrs)
    error_message = "fleet_cidrs must not repeat a block."
  }

  validation {
    condition     = length(var.fleet_cidrs) <= 10
    error_message = "fleet_cidrs holds at most 10 blocks (one egress rule each; a filter holds 10 per direction)."
  }
}

variable "network_services" {
  description = "Extra network services to mirror besides regular traffic: [] or [\"amazon-dns\"] (Route 53 Resolver queries)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.network_services : s == "amazon-dns"])
    error_message = "network_services may only contain \"amazon-dns\"."
  }
}

variable "source_eni_ids" {
  description = "ENIs to mirror, one static session each. Their ids must be known at plan time (they are for_each keys). Terraform creates sessions only at apply time: a dynamic fleet needs event-driven enrollment on top of this. An ENI may carry at most 3 sessions in total, and deleting it deletes its sessions."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.source_eni_ids : can(regex("^eni-[0-9a-f]{8,17}$", e))])
    error_message = "source_eni_ids must hold network interface ids (eni-...)."
  }

  validation {
    condition     = length(distinct(var.source_eni_ids)) == length(var.source_eni_ids)
    error_message = "source_eni_ids must not repeat an ENI (one ENI would get two sessions with the same number)."
  }
}

variable "excluded_eni_ids" {
  description = "ENIs that must never be mirror sources: the collectors' own ENIs (an ENI cannot be both source and target, and a collector mirroring itself feeds back its own traffic). Any of them in source_eni_ids fails the plan."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.excluded_eni_ids : can(regex("^eni-[0-9a-f]{8,17}$", e))])
    error_message = "excluded_eni_ids must hold network interface ids (eni-...)."
  }
}

variable "excluded_security_group_ids" {
  description = "Security groups whose members must never be mirror sources (typically the collectors' group). When set, every source ENI is looked up and one that belongs to such a group fails the plan/apply. Catches collectors launched after excluded_eni_ids was computed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.excluded_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "excluded_security_group_ids must hold security group ids (sg-...)."
  }
}

variable "session_number" {
  description = "Session number (1-32766, 1 = highest priority). A packet is mirrored once, by the first session of its ENI whose filter matches."
  type        = number
  default     = 1

  validation {
    condition     = var.session_number == floor(var.session_number) && var.session_number >= 1 && var.session_number <= 32766
    error_message = "session_number must be an integer from 1 to 32766."
  }
}

variable "virtual_network_id" {
  description = "VXLAN VNI stamped on the mirrored packets (1-16777215). Use one per VPC/environment so the lake can tell sources apart; null lets AWS pick a random value unique in the account."
  type        = number
  default     = null

  validation {
    condition     = var.virtual_network_id == null ? true : (var.virtual_network_id == floor(var.virtual_network_id) && var.virtual_network_id >= 1 && var.virtual_network_id <= 16777215)
    error_message = "virtual_network_id must be null or an integer from 1 to 16777215."
  }
}

variable "packet_length" {
  description = "Bytes of each original packet to keep (1-8500). null = AWS default for an NLB target (8500). Smaller values cut storage for header-only forensics; truncated copies keep their bad L4 checksums."
  type        = number
  default     = null

  validation {
    condition     = var.packet_length == null ? true : (var.packet_length == floor(var.packet_length) && var.packet_length >= 1 && var.packet_length <= 8500)
    error_message = "packet_length must be null or an integer from 1 to 8500 (the maximum for an NLB target)."
  }
}

variable "max_packet_length" {
  description = "The largest packet_length the mirror target carries whole. null = no limit below 8500 (an NLB target). With a GWLB endpoint target pass the mirror-source-endpoint module's max_packet_length (8446): a null packet_length then becomes it, and a larger one fails the plan."
  type        = number
  default     = null

  validation {
    condition     = var.max_packet_length == null ? true : (var.max_packet_length == floor(var.max_packet_length) && var.max_packet_length >= 1 && var.max_packet_length <= 8500)
    error_message = "max_packet_length must be null or an integer from 1 to 8500."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
