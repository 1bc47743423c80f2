package api

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/auth"
	"github.com/vireo-project/vireo/internal/hostconn"
	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/session"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
)

// Product identity reported in ServiceContent.about.
const (
	ProductVersion = "8.0.3"
	ProductBuild   = "24322831"
)

// Well-known MoRefs of the singleton managed objects, with vCenter's values.
var (
	ServiceInstanceRef   = ref("ServiceInstance", "ServiceInstance")
	RootFolderRef        = ref("Folder", "group-d1")
	PropertyCollectorRef = ref("PropertyCollector", "propertyCollector")
	ViewManagerRef       = ref("ViewManager", "ViewManager")
	SessionManagerRef    = ref("SessionManager", "SessionManager")
	SearchIndexRef       = ref("SearchIndex", "SearchIndex")
	EventManagerRef      = ref("EventManager", "EventManager")
	OptionManagerRef     = ref("OptionManager", "VpxSettings")
	CustomFieldsRef      = ref("CustomFieldsManager", "CustomFieldsManager")
	LicenseManagerRef    = ref("LicenseManager", "LicenseManager")
	LicenseAssignRef     = ref("LicenseAssignmentManager", "LicenseAssignmentManager")
	UserDirectoryRef     = ref("UserDirectory", "UserDirectory")
	AuthManagerRef       = ref("AuthorizationManager", "AuthorizationManager")
	PerfManagerRef       = ref("PerformanceManager", "PerfMgr")
	FileManagerRef       = ref("FileManager", "FileManager")
	VirtualDiskMgrRef    = ref("VirtualDiskManager", "virtualDiskManager")
	TaskManagerRef       = task.ManagerRef
)

func ref(t, v string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: t, Value: v}
}

// Config configures a Service.
type Config struct {
	Registry *inventory.Registry
	Sessions *session.Manager
	Users    *auth.Users
	Tasks    *task.Manager
	Hosts    HostDirectory
	// Agents connects hosts that run `vireo host`; nil refuses AddHost_Task.
	Agents *hostconn.Manager
	// SimulateAddedHosts makes AddHost_Task and AddStandaloneHost_Task
	// add an in-process simulated host of the given name instead of
	// connecting to an agent, as vcsim does (vireo sim).
	SimulateAddedHosts bool
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// InstanceUUID identifies this server (about.instanceUuid).
	InstanceUUID string
	// ESX makes the server present itself as a standalone ESX host (vcsim's -esx).
	ESX bool
}

// Service is the set of vim25 managed objects served over one soap.Table.
type Service struct {
	reg      *inventory.Registry
	sessions *session.Manager
	users    *auth.Users
	tasks    *task.Manager
	hosts    HostDirectory
	agents   *hostconn.Manager
	// simulateAddedHosts: see Config.SimulateAddedHosts.
	simulateAddedHosts bool
	now                func() time.Time
	log                *slog.Logger
	content            types.ServiceContent
	events             *eventLog
	pc                 *collectors
	// mgr holds the service managers' state (mgr_managers.go).
	mgr *managers
	// vms serializes operations per VM and allocates MAC addresses
	// (virtual_machine.go); its zero value is ready.
	vms vmCoordinator
	// identity is the server's TLS certificate (SetServerIdentity,
	// host_cert.go); nil when serving plain HTTP.
	identity ServerIdentity
}

// New returns a Service for cfg. Call Bootstrap before serving.
func New(cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{
		reg: cfg.Registry, sessions: cfg.Sessions, users: cfg.Users, tasks: cfg.Tasks,
		hosts: cfg.Hosts, agents: cfg.Agents, simulateAddedHosts: cfg.SimulateAddedHosts, now: now, log: logger,
	}
	if cfg.InstanceUUID == "" {
		cfg.InstanceUUID = uuid.NewString()
	}
	s.content = serviceContent(cfg.InstanceUUID)
	if cfg.ESX {
		s.content = esxContent(s.content)
	}
	s.content = provisioningContent(s.content, cfg.ESX) // vm_check.go
	s.events = newEventLog(now)
	s.pc = newCollectors(s)
	s.mgr = newManagers(s)
	s.reg.AddHook(hostManagersHook) // host_cfg_managers.go
	s.reg.AddHook(s.hostCertHook)   // host_cert.go
	return s
}

// Content returns the ServiceContent.
func (s *Service) Content() types.ServiceContent { return s.content }

// Registry returns the inventory registry.
func (s *Service) Registry() *inventory.Registry { return s.reg }

// Register adds every managed object's methods to t.
func (s *Service) Register(t *soap.Table) {
	s.registerServiceInstance(t)
	s.registerSessionManager(t)
	s.registerPropertyCollector(t)
	s.registerViewManager(t)
	s.registerSearchIndex(t)
	s.registerEntity(t)
	s.registerFolder(t)
	s.registerDatacenter(t)
	s.registerComputeResource(t)
	s.registerResourcePool(t)
	s.registerHost(t)
	s.registerHostAgent(t)
	s.registerDatastore(t)
	s.registerNetwork(t)
	s.registerDVS(t)
	s.registerVirtualMachine(t)
	s.registerTaskManager(t)
	s.registerEventManager(t)
	s.registerOptionManager(t)
	s.registerCustomFields(t)
	s.registerLicenseManager(t)
	s.registerFileManager(t)
	s.registerHostNetworkSystem(t)
	s.registerHostStorageSystem(t)
	s.registerEnvironmentBrowser(t)
	s.registerVMCheckers(t)             // vm_check.go
	s.registerStorageResourceManager(t) // storage_resource_manager.go
	s.registerHostCertificateManager(t)
	s.registerHostTPM(t)
	s.registerCustomizationSpecManager(t)
}

// Bootstrap creates the singleton managed objects in memory, and the root
// folder in the store if the inventory is empty. It is called once at start.
func (s *Service) Bootstrap(ctx context.Context) error {
	datastores := s.allDatastores()
	err := s.reg.Update(ctx, func(tx *inventory.Txn) error {
		restoreBrowsersTxn(tx, datastores)
		if tx.Get(s.content.RootFolder) == nil {
			tx.Create(s.newRootFolder(), true)
		}
		for _, o := range s.singletons() {
			tx.Create(o, false)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.bootstrapHostManagers(ctx); err != nil {
		return err
	}
	if err := s.bootstrapHostCerts(ctx); err != nil {
		return err
	}
	if err := s.loadCustomizationSpecs(ctx); err != nil {
		return err
	}
	return s.mgr.load(ctx)
}

func (s *Service) singletons() []mo.Reference {
	si := &serviceInstance{}
	si.Self = ServiceInstanceRef
	si.Content = s.content
	si.Capability = types.Capability{
		ProvisioningSupported: true, MultiHostSupported: true, UserShellAccessSupported: false,
	}
	sm := &sessionManager{svc: s}
	sm.Self = SessionManagerRef
	sm.DefaultLocale = "en"
	sm.SupportedLocaleList = []string{"en"}
	pc := &mo.PropertyCollector{}
	pc.Self = PropertyCollectorRef
	vm := &mo.ViewManager{}
	vm.Self = ViewManagerRef
	si2 := &mo.SearchIndex{}
	si2.Self = SearchIndexRef
	tm := &taskManager{svc: s}
	tm.Self = TaskManagerRef
	tm.Description = taskDescription()
	em := &eventManager{svc: s}
	em.Self = EventManagerRef
	em.Description = eventDescription()
	em.MaxCollector = 32
	om := &optionManager{svc: s}
	om.Self = OptionManagerRef
	cf := &customFieldsManager{svc: s}
	cf.Self = CustomFieldsRef
	lm := &licenseManager{svc: s}
	lm.Self = LicenseManagerRef
	la := &mo.LicenseAssignmentManager{}
	la.Self = LicenseAssignRef
	ud := &mo.UserDirectory{}
	ud.Self = UserDirectoryRef
	am := &mo.AuthorizationManager{}
	am.Self = AuthManagerRef
	out := append([]mo.Reference{si, sm, pc, vm, si2, tm, em, om, cf, lm, la, ud, am}, fileSingletons()...)
	return append(out, s.provisioningSingletons()...)
}

func serviceContent(instanceUUID string) types.ServiceContent {
	p := func(r types.ManagedObjectReference) *types.ManagedObjectReference { return &r }
	return types.ServiceContent{
		RootFolder:        RootFolderRef,
		PropertyCollector: PropertyCollectorRef,
		ViewManager:       p(ViewManagerRef),
		About: types.AboutInfo{
			Name:                  "VMware vCenter Server",
			FullName:              fmt.Sprintf("VMware vCenter Server %s build-%s (Vireo)", ProductVersion, ProductBuild),
			Vendor:                "Vireo",
			Version:               ProductVersion,
			Build:                 ProductBuild,
			LocaleVersion:         "INTL",
			LocaleBuild:           "000",
			OsType:                "linux-x64",
			ProductLineId:         "vpx",
			ApiType:               "VirtualCenter",
			ApiVersion:            "8.0.3.0",
			InstanceUuid:          instanceUUID,
			LicenseProductName:    "VMware VirtualCenter Server",
			LicenseProductVersion: "8.0",
		},
		Setting:                   p(OptionManagerRef),
		UserDirectory:             p(UserDirectoryRef),
		SessionManager:            p(SessionManagerRef),
		AuthorizationManager:      p(AuthManagerRef),
		EventManager:              p(EventManagerRef),
		TaskManager:               p(TaskManagerRef),
		CustomFieldsManager:       p(CustomFieldsRef),
		LicenseManager:            p(LicenseManagerRef),
		SearchIndex:               p(SearchIndexRef),
		FileManager:               p(FileManagerRef),
		DatastoreNamespaceManager: p(DatastoreNamespaceManagerRef),
		VirtualDiskManager:        p(VirtualDiskMgrRef),
		CustomizationSpecManager:  p(CustomizationSpecManagerRef),
	}
}
