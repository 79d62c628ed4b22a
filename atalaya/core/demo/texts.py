"""What the demo's people write: ticket scenarios per category, replies and notes.

Every text exists in English and Spanish. Every scenario is one realistic request an
MSP gets, with the message the contact sends, the technician's fix and, where it fits,
the question the technician asks first. ``surge`` marks what became common when
everyone started working from home; the plan makes those far more likely in the last
weeks. Placeholders: {first} (the contact's first name), {site}, {device}, {count}.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """One kind of request, in both languages, with the technician's question and fix."""

    subject_en: str
    body_en: str
    subject_es: str
    body_es: str
    fix_en: str
    fix_es: str
    question_en: str = ""
    question_es: str = ""
    surge: bool = False
    # Projects (planned work) and monitoring (raised by a check) have their own queues.
    queue: str = "helpdesk"

    def text(self, language: str) -> tuple[str, str, str, str]:
        """Subject, body, fix and question in ``language`` (es or en)."""
        if language == "es":
            return self.subject_es, self.body_es, self.fix_es, self.question_es
        return self.subject_en, self.body_en, self.fix_en, self.question_en


S = Scenario

SCENARIOS: dict[str, list[Scenario]] = {
    "remote-access": [
        S(
            "VPN does not connect from home",
            'Since this morning the VPN client says "connection timed out" when I try to connect '
            "from home. At the office everything works. I need the shared drive to work today.",
            "La VPN no conecta desde casa",
            'Desde esta mañana el cliente VPN me dice "tiempo de conexión agotado" cuando intento '
            "conectar desde casa. En la oficina todo funciona. Necesito la unidad compartida hoy.",
            "Your home router was blocking UDP 1194. I switched your profile to the TCP 443 "
            "fallback; please reconnect and tell me if the shared drive shows up.",
            "Tu router de casa bloqueaba el puerto UDP 1194. He cambiado tu perfil al modo "
            "alternativo TCP 443; vuelve a conectar y dime si aparece la unidad compartida.",
            "Which internet provider do you have at home, and could you send a screenshot of the "
            "error?",
            "¿Qué proveedor de internet tienes en casa? ¿Puedes enviarnos una captura del error?",
            surge=True,
        ),
        S(
            "Need VPN access for a new remote worker",
            "We have decided that {count} people from {site} will work from home from Monday. "
            "Could you set up VPN access for them? I will send the list of names.",
            "Acceso VPN para teletrabajo",
            "Hemos decidido que {count} personas de {site} teletrabajen a partir del lunes. "
            "¿Podéis darles acceso VPN? Os paso la lista de nombres.",
            "The VPN accounts are ready and MFA is enrolled for everyone on the list. Each person "
            "received the installation guide by mail.",
            "Las cuentas VPN están creadas y todos tienen el doble factor activado. Cada persona "
            "ha recibido por correo la guía de instalación.",
            "Please send us the names and tell us whether they will use company laptops or their "
            "own computers.",
            "Envíanos los nombres y dinos si usarán portátiles de la empresa o sus propios equipos.",
            surge=True,
            queue="projects",
        ),
        S(
            "Remote desktop to my office PC fails",
            "I am trying to connect to my office computer ({device}) with Remote Desktop but it "
            "says the computer cannot be found.",
            "No puedo conectar por escritorio remoto a mi PC de la oficina",
            "Intento conectarme a mi ordenador de la oficina ({device}) por escritorio remoto y me "
            "dice que no encuentra el equipo.",
            "{device} had gone to sleep. I disabled sleep on it and enabled wake-on-LAN; you can "
            "connect through the VPN first and then Remote Desktop.",
            "{device} estaba en suspensión. He desactivado la suspensión y activado wake-on-LAN; "
            "conecta primero la VPN y después el escritorio remoto.",
            "Is the VPN connected when you try? Does anyone at the office see the PC switched on?",
            "¿Tienes la VPN conectada cuando lo intentas? ¿Alguien en la oficina ve el PC encendido?",
            surge=True,
        ),
        S(
            "VPN very slow, files take minutes to open",
            "The VPN connects but opening an Excel file from the server takes several minutes. "
            "Video calls also drop while the VPN is on.",
            "La VPN va muy lenta",
            "La VPN conecta pero abrir un Excel del servidor tarda varios minutos. Las "
            "videollamadas también se cortan con la VPN puesta.",
            "I enabled split tunnelling so that calls and internet traffic no longer go through "
            "the office line, and raised the office firewall's VPN limit.",
            "He activado el túnel dividido para que las llamadas e internet no pasen por la línea "
            "de la oficina, y he ampliado el límite de VPN del cortafuegos.",
            surge=True,
        ),
        S(
            "Laptop needed to work from home",
            "I do not have a laptop and I must work from home from tomorrow. Is there a spare one "
            "with the programs I use?",
            "Necesito un portátil para teletrabajar",
            "No tengo portátil y mañana tengo que trabajar desde casa. ¿Hay alguno disponible con "
            "los programas que uso?",
            "A laptop with your applications, VPN and antivirus is ready for pickup at {site}.",
            "Tienes un portátil preparado con tus aplicaciones, VPN y antivirus para recoger en "
            "{site}.",
            surge=True,
        ),
        S(
            "VPN certificate expired",
            "The VPN shows a message that the certificate has expired and it will not connect.",
            "Certificado de la VPN caducado",
            "La VPN muestra un aviso de que el certificado ha caducado y no conecta.",
            "I issued a new certificate and pushed it to your laptop; reconnect and it will work.",
            "He emitido un certificado nuevo y lo he enviado a tu portátil; vuelve a conectar.",
            surge=True,
        ),
        S(
            "Cannot reach the accounting program from home",
            "With the VPN connected I can see the shared folders but the accounting program says "
            "the database server is not available.",
            "El programa de contabilidad no funciona desde casa",
            "Con la VPN conectada veo las carpetas compartidas, pero el programa de contabilidad "
            "dice que el servidor de base de datos no está disponible.",
            "The VPN profile was missing the route to the database server. It is added; please "
            "reconnect the VPN.",
            "Al perfil VPN le faltaba la ruta al servidor de base de datos. Ya está añadida; "
            "vuelve a conectar la VPN.",
            surge=True,
        ),
        S(
            "Remote access for our external accountant",
            "Our external accountant needs access to the invoices folder for the quarterly "
            "closing. Can you give him remote access only to that folder?",
            "Acceso remoto para la gestoría",
            "Nuestra gestoría necesita acceder a la carpeta de facturas para el cierre "
            "trimestral. ¿Podéis darle acceso remoto solo a esa carpeta?",
            "The accountant has a VPN account limited to the invoices share, valid until the end "
            "of the quarter.",
            "La gestoría tiene una cuenta VPN limitada a la carpeta de facturas, válida hasta fin "
            "de trimestre.",
        ),
    ],
    "security": [
        S(
            "Suspicious e-mail asking for my Office 365 password",
            "I received an e-mail saying my Office 365 password expires today with a link to "
            "keep it. It looks strange. I have not clicked. I am forwarding it.",
            "Correo sospechoso que pide mi contraseña de Office 365",
            "He recibido un correo que dice que mi contraseña de Office 365 caduca hoy, con un "
            "enlace para mantenerla. Me parece raro. No he pulsado. Os lo reenvío.",
            "It was phishing. The link led to a fake Microsoft page. I blocked the sender domain "
            "for the whole company and removed the message from every mailbox. Thank you for "
            "reporting it!",
            "Era phishing. El enlace llevaba a una página falsa de Microsoft. He bloqueado el "
            "dominio del remitente para toda la empresa y he borrado el mensaje de todos los "
            "buzones. ¡Gracias por avisar!",
            surge=True,
        ),
        S(
            "I clicked a link in a strange e-mail",
            "I opened a link in an e-mail about a parcel delivery and typed my password before I "
            "realised. What should I do?",
            "He pulsado un enlace de un correo extraño",
            "He abierto el enlace de un correo sobre la entrega de un paquete y he escrito mi "
            "contraseña antes de darme cuenta. ¿Qué hago?",
            "I reset your password, closed all your sessions and checked the sign-in log: nobody "
            "else used your account. MFA is now on. Well done for telling us at once.",
            "He cambiado tu contraseña, cerrado todas tus sesiones y revisado el registro de "
            "accesos: nadie más ha usado tu cuenta. Ya tienes el doble factor activado. Bien "
            "hecho por avisar enseguida.",
            "When did you enter the password, and on which device?",
            "¿Cuándo escribiste la contraseña y en qué dispositivo?",
            surge=True,
        ),
        S(
            "Fake invoice with an attachment",
            "We received an invoice from a supplier we do not know, with a zip attachment. "
            "Nobody has opened it. Is it safe?",
            "Factura falsa con adjunto",
            "Nos ha llegado una factura de un proveedor que no conocemos, con un zip adjunto. "
            "Nadie lo ha abierto. ¿Es seguro?",
            "The zip contained malware. It is quarantined and the sender is blocked. Do not open "
            "similar attachments; forward them to us.",
            "El zip contenía malware. Está en cuarentena y el remitente bloqueado. No abráis "
            "adjuntos parecidos; reenviádnoslos.",
            surge=True,
        ),
        S(
            "E-mail from the CEO asking for an urgent transfer",
            "Finance received an e-mail that looks like it comes from our director asking for an "
            "urgent bank transfer. The address looks slightly different.",
            "Correo del director pidiendo una transferencia urgente",
            "Administración ha recibido un correo que parece del director pidiendo una "
            "transferencia urgente. La dirección es ligeramente distinta.",
            "It is CEO fraud from a look-alike domain. I blocked the domain and added a warning "
            "banner to mail from outside the company. Never make payments on mail requests "
            "without calling.",
            "Es el fraude del CEO desde un dominio parecido. He bloqueado el dominio y añadido un "
            "aviso en los correos externos. Nunca hagáis pagos pedidos por correo sin llamar.",
            surge=True,
        ),
        S(
            "Antivirus alert on my home computer",
            "The antivirus on the computer I use at home shows a red alert about a threat found.",
            "Alerta del antivirus en el ordenador de casa",
            "El antivirus del ordenador que uso en casa muestra una alerta roja de amenaza "
            "detectada.",
            "The antivirus removed an adware program installed with a free PDF tool. I ran a "
            "full scan: the computer is clean.",
            "El antivirus ha eliminado un adware que venía con un programa gratuito de PDF. He "
            "hecho un análisis completo: el equipo está limpio.",
            surge=True,
        ),
        S(
            "MFA prompt I did not request",
            "My phone showed a Microsoft Authenticator request to approve a sign-in and I was not "
            "signing in. I rejected it.",
            "Aviso de doble factor que no he pedido",
            "Mi móvil me ha pedido aprobar un inicio de sesión en Microsoft Authenticator y yo no "
            "estaba entrando. Lo he rechazado.",
            "Someone had your password. You were right to reject it. I changed the password, "
            "blocked the foreign sign-ins and turned on number matching.",
            "Alguien tenía tu contraseña. Hiciste bien en rechazarlo. He cambiado la contraseña, "
            "bloqueado los accesos desde el extranjero y activado la coincidencia de números.",
            surge=True,
        ),
        S(
            "Is this Microsoft Teams link safe?",
            "I got an invitation to a Teams meeting from an unknown address with a link to "
            '"view the document". Should I open it?',
            "¿Es seguro este enlace de Teams?",
            "Me ha llegado una invitación de Teams desde una dirección desconocida con un enlace "
            'para "ver el documento". ¿Lo abro?',
            "Do not open it: the link points to a credential-stealing site. I removed the "
            "message from all mailboxes.",
            "No lo abras: el enlace apunta a una web que roba contraseñas. He borrado el mensaje "
            "de todos los buzones.",
            surge=True,
        ),
        S(
            "Former employee still has access",
            "{first} here. An employee left last week; please make sure she no longer has access "
            "to mail or files.",
            "Una exempleada sigue teniendo acceso",
            "Soy {first}. Una empleada se fue la semana pasada; aseguraos de que ya no tiene "
            "acceso al correo ni a los archivos.",
            "Her account is disabled, the mailbox is shared with her manager and her devices are "
            "removed from the VPN.",
            "Su cuenta está desactivada, el buzón compartido con su responsable y sus "
            "dispositivos eliminados de la VPN.",
        ),
    ],
    "email": [
        S(
            "Mailbox full",
            "Outlook says my mailbox is full and I cannot send messages.",
            "Buzón lleno",
            "Outlook me dice que el buzón está lleno y no puedo enviar correos.",
            "I enabled the online archive and moved mail older than two years there. You have "
            "plenty of space now.",
            "He activado el archivo en línea y movido allí el correo de hace más de dos años. Ya "
            "tienes espacio de sobra.",
        ),
        S(
            "Mail to a client bounces",
            "Messages I send to one of our clients come back with an "
            "error saying the message was rejected.",
            "Los correos a un cliente rebotan",
            "Los correos que envío a uno de nuestros clientes vuelven con un error de mensaje "
            "rechazado.",
            "Their server rejected us because our SPF record was incomplete. I fixed the DNS "
            "record; mail is delivered again.",
            "Su servidor nos rechazaba porque nuestro registro SPF estaba incompleto. He "
            "corregido el DNS y el correo ya se entrega.",
            "Could you forward us the bounce message you received?",
            "¿Puedes reenviarnos el mensaje de rebote que recibiste?",
        ),
        S(
            "Shared mailbox not showing in Outlook",
            "I should have access to the info@ mailbox but it does not show in my Outlook.",
            "No me aparece el buzón compartido",
            "Debería tener acceso al buzón info@ pero no me aparece en Outlook.",
            "I gave you full access to the shared mailbox; restart Outlook and it will appear on "
            "the left.",
            "Te he dado acceso completo al buzón compartido; reinicia Outlook y aparecerá a la "
            "izquierda.",
        ),
        S(
            "Outlook keeps asking for my password",
            "Outlook asks for my password every few minutes even though I type it correctly.",
            "Outlook me pide la contraseña continuamente",
            "Outlook me pide la contraseña cada pocos minutos aunque la escribo bien.",
            "The old saved credential was conflicting with modern authentication. I cleared it "
            "and repaired your Outlook profile.",
            "Una credencial antigua guardada chocaba con la autenticación moderna. La he borrado "
            "y he reparado tu perfil de Outlook.",
        ),
        S(
            "Set up mail on my mobile phone",
            "Can you help me to have my work e-mail on my new phone?",
            "Configurar el correo en el móvil",
            "¿Me ayudáis a tener el correo del trabajo en mi móvil nuevo?",
            "Install Outlook from the app store and sign in with your work address; I approved "
            "the device on our side.",
            "Instala Outlook desde la tienda de aplicaciones y entra con tu dirección del "
            "trabajo; he aprobado el dispositivo por nuestra parte.",
        ),
        S(
            "Out-of-office reply for holidays",
            "I am on holiday from Friday; please set an automatic reply in English and Spanish.",
            "Respuesta automática por vacaciones",
            "Me voy de vacaciones el viernes; ¿podéis poner una respuesta automática en español "
            "e inglés?",
            "The automatic reply is scheduled for your holiday dates in both languages.",
            "La respuesta automática está programada para tus fechas de vacaciones en los dos "
            "idiomas.",
        ),
    ],
    "hardware": [
        S(
            "Laptop does not turn on",
            "My laptop does not turn on at all, not even the lights.",
            "El portátil no enciende",
            "Mi portátil no enciende, ni siquiera las luces.",
            "The charger had failed. We replaced it and the laptop works.",
            "El cargador estaba estropeado. Lo hemos cambiado y el portátil funciona.",
            "Is it plugged in? Does the charger light come on?",
            "¿Está enchufado? ¿Se enciende la luz del cargador?",
        ),
        S(
            "Second monitor not detected",
            'The second screen on my desk at {site} says "no signal".',
            "La segunda pantalla no se detecta",
            'La segunda pantalla de mi puesto en {site} dice "sin señal".',
            "The docking station needed a firmware update. Both screens work now.",
            "La base de conexión necesitaba una actualización de firmware. Ya funcionan las dos "
            "pantallas.",
        ),
        S(
            "Headset for video calls",
            "I need a headset with a microphone for calls from home.",
            "Auriculares para videollamadas",
            "Necesito unos auriculares con micrófono para las llamadas desde casa.",
            "A headset has been sent to your home address; it works with Teams out of the box.",
            "Te hemos enviado unos auriculares a casa; funcionan con Teams sin instalar nada.",
            surge=True,
        ),
        S(
            "Computer very slow at {site}",
            "{device} takes ten minutes to start and programs freeze.",
            "Ordenador muy lento en {site}",
            "{device} tarda diez minutos en arrancar y los programas se quedan colgados.",
            "The hard disk was failing. We cloned it to a new SSD; {device} starts in seconds.",
            "El disco duro estaba fallando. Lo hemos clonado a un SSD nuevo; {device} arranca en "
            "segundos.",
        ),
        S(
            "Keyboard spilled with coffee",
            "I spilled coffee on my keyboard and some keys do not work.",
            "Teclado mojado con café",
            "Se me ha caído café en el teclado y algunas teclas no funcionan.",
            "We left a new keyboard on your desk.",
            "Te hemos dejado un teclado nuevo en la mesa.",
        ),
        S(
            "Webcam not working",
            "The laptop camera shows a black image in video calls.",
            "La cámara no funciona",
            "La cámara del portátil sale en negro en las videollamadas.",
            "The camera privacy switch was on, and the driver was outdated; both fixed.",
            "El interruptor de privacidad de la cámara estaba activado y el controlador "
            "desactualizado; ambos resueltos.",
            surge=True,
        ),
    ],
    "software": [
        S(
            "Excel closes when opening a file",
            "Excel closes by itself when I open the monthly report.",
            "Excel se cierra al abrir un archivo",
            "Excel se cierra solo cuando abro el informe mensual.",
            "A broken add-in caused it. I disabled it and repaired Office.",
            "Lo provocaba un complemento dañado. Lo he desactivado y he reparado Office.",
            "Does it happen with every file or only with that one?",
            "¿Te pasa con todos los archivos o solo con ese?",
        ),
        S(
            "Install the new version of the invoicing program",
            "The supplier of our invoicing program released a new version; can you install it "
            "on the computers at {site}?",
            "Instalar la nueva versión del programa de facturación",
            "El proveedor del programa de facturación ha sacado una versión nueva; ¿podéis "
            "instalarla en los equipos de {site}?",
            "The new version is installed on all computers at {site} and the database was "
            "updated after a backup.",
            "La nueva versión está instalada en todos los equipos de {site} y la base de datos "
            "actualizada tras una copia.",
        ),
        S(
            "Teams installation for home",
            "I need Teams on my personal computer to join the meetings.",
            "Instalar Teams en casa",
            "Necesito Teams en mi ordenador personal para las reuniones.",
            "I sent you the link and the steps; you can also join from the browser.",
            "Te he enviado el enlace y los pasos; también puedes entrar desde el navegador.",
            surge=True,
        ),
        S(
            "PDF files open in the wrong program",
            "PDF files now open in the browser instead of Acrobat and I cannot sign them.",
            "Los PDF se abren con otro programa",
            "Los PDF ahora se abren en el navegador en vez de Acrobat y no puedo firmarlos.",
            "Acrobat is the default again for PDF files.",
            "Acrobat vuelve a ser el programa predeterminado para los PDF.",
        ),
        S(
            "Windows update stuck",
            'The computer has been "working on updates" for an hour.',
            "Actualización de Windows atascada",
            'El ordenador lleva una hora "trabajando en las actualizaciones".',
            "The update finished after a restart in safe mode; the computer is up to date.",
            "La actualización terminó tras reiniciar en modo seguro; el equipo está al día.",
        ),
        S(
            "Licence expired for the design program",
            "The design program says the licence has expired.",
            "Licencia caducada del programa de diseño",
            "El programa de diseño dice que la licencia ha caducado.",
            "The licence was renewed and assigned to your account again.",
            "La licencia se ha renovado y vuelto a asignar a tu cuenta.",
        ),
    ],
    "network": [
        S(
            "No internet at {site}",
            "Nobody at {site} has internet since 10 o'clock.",
            "Sin internet en {site}",
            "Nadie en {site} tiene internet desde las 10.",
            "The fibre provider had an outage in the area; the line is back and we checked every "
            "computer.",
            "El operador de fibra tuvo una avería en la zona; la línea ha vuelto y "
            "hemos comprobado todos los equipos.",
        ),
        S(
            "Wi-Fi drops in the meeting room",
            "The Wi-Fi in the meeting room at {site} drops every few minutes.",
            "Se corta el wifi en la sala de reuniones",
            "El wifi de la sala de reuniones de {site} se corta cada pocos minutos.",
            "The access point was overheating. We moved it and updated its firmware.",
            "El punto de acceso se sobrecalentaba. Lo hemos reubicado y actualizado.",
        ),
        S(
            "Office line saturated",
            "Since many of us connect from home the office internet is very slow.",
            "Línea de la oficina saturada",
            "Desde que muchos conectamos desde casa, internet en la oficina va muy lento.",
            "We upgraded the office line to 1 Gbit/s with the provider and limited backup "
            "traffic during working hours.",
            "Hemos ampliado la línea de la oficina a 1 Gbit/s con el operador y limitado las "
            "copias en horario laboral.",
            surge=True,
        ),
        S(
            "New network point for a desk",
            "We are moving a desk at {site}; we need a network socket there.",
            "Nuevo punto de red para un puesto",
            "Movemos un puesto en {site} y necesitamos una toma de red.",
            "The new network point is installed and tested.",
            "El nuevo punto de red está instalado y probado.",
        ),
        S(
            "Guest Wi-Fi password",
            "Can you change the guest Wi-Fi password? Too many people know it.",
            "Contraseña del wifi de invitados",
            "¿Podéis cambiar la contraseña del wifi de invitados? La conoce demasiada gente.",
            "The guest Wi-Fi has a new password; it is on the card at reception.",
            "El wifi de invitados tiene contraseña nueva; está en la tarjeta de recepción.",
        ),
    ],
    "accounts": [
        S(
            "Password reset",
            "I forgot my password after the holidays.",
            "Restablecer contraseña",
            "He olvidado mi contraseña después de las vacaciones.",
            "I set a temporary password and sent it by SMS; you will choose a new one at sign-in.",
            "Te he puesto una contraseña temporal por SMS; elegirás una nueva al entrar.",
        ),
        S(
            "Account locked",
            "My account is locked after several attempts.",
            "Cuenta bloqueada",
            "Mi cuenta se ha bloqueado tras varios intentos.",
            "Your account is unlocked. The attempts came from your old phone with the previous "
            "password saved.",
            "Tu cuenta está desbloqueada. Los intentos venían de tu móvil antiguo con la "
            "contraseña anterior guardada.",
        ),
        S(
            "New employee starting Monday",
            "A new colleague starts on Monday at {site}; please "
            "create her user, mail and access to the shared folders.",
            "Alta de nueva empleada el lunes",
            "El lunes empieza una compañera nueva en {site}; dadle de alta usuario, correo y "
            "acceso a las carpetas compartidas.",
            "The user, mailbox and folder access are ready; the welcome sheet is at reception.",
            "Usuario, buzón y accesos a carpetas listos; la hoja de bienvenida está en recepción.",
            "What is her name, her job and which folders does she need?",
            "¿Cómo se llama, qué puesto tiene y qué carpetas necesita?",
        ),
        S(
            "Set up MFA on my new phone",
            "I changed phones and the authenticator app no longer has my account.",
            "Configurar el doble factor en el móvil nuevo",
            "He cambiado de móvil y la app de autenticación ya no tiene mi cuenta.",
            "I reset your MFA registration; at your next sign-in you will scan a new QR code.",
            "He reiniciado tu registro de doble factor; en el próximo inicio escanearás un "
            "código QR nuevo.",
            surge=True,
        ),
        S(
            "Access to the management folder",
            "I need access to the management folder on the server; my manager approves it.",
            "Acceso a la carpeta de dirección",
            "Necesito acceso a la carpeta de dirección del servidor; mi responsable lo aprueba.",
            "Access granted after your manager's approval.",
            "Acceso concedido tras la aprobación de tu responsable.",
        ),
    ],
    "printing": [
        S(
            "Printer jammed at {site}",
            "The printer at {site} is jammed and shows an error.",
            "Atasco en la impresora de {site}",
            "La impresora de {site} está atascada y muestra un error.",
            "We removed the jammed paper and cleaned the rollers; it prints again.",
            "Hemos retirado el papel atascado y limpiado los rodillos; ya imprime.",
        ),
        S(
            "Cannot print from my laptop",
            "My laptop does not find the office printer.",
            "No puedo imprimir desde mi portátil",
            "Mi portátil no encuentra la impresora de la oficina.",
            "I reinstalled the printer driver through the management tool; it is listed again.",
            "He reinstalado el controlador de la impresora desde la consola; ya aparece.",
        ),
        S(
            "Scanner does not send to e-mail",
            "Scanning to e-mail stopped working.",
            "El escáner no envía al correo",
            "Escanear a correo ha dejado de funcionar.",
            "The scanner used the old mail password; it now uses an app password and works.",
            "El escáner usaba la contraseña antigua del correo; ahora usa una contraseña de "
            "aplicación y funciona.",
        ),
        S(
            "Toner low",
            "The printer says the black toner is almost empty.",
            "Tóner bajo",
            "La impresora dice que el tóner negro está casi vacío.",
            "Toner ordered; it will arrive tomorrow at {site}.",
            "Tóner pedido; llegará mañana a {site}.",
        ),
        S(
            "Printing from home",
            "Can I print to the office printer from home?",
            "Imprimir desde casa",
            "¿Puedo imprimir en la impresora de la oficina desde casa?",
            "Yes, with the VPN connected. I added the printer to your laptop.",
            "Sí, con la VPN conectada. He añadido la impresora a tu portátil.",
            surge=True,
        ),
    ],
    "backup": [
        S(
            "Backup failed last night",
            "The backup report says last night's backup failed.",
            "Ha fallado la copia de anoche",
            "El informe dice que la copia de anoche falló.",
            "The backup disk was full. I removed old restore points and ran the backup again "
            "successfully.",
            "El disco de copias estaba lleno. He borrado puntos antiguos y la copia se ha "
            "repetido con éxito.",
            queue="monitoring",
        ),
        S(
            "Restore a deleted folder",
            "I deleted a folder from the shared drive by mistake yesterday.",
            "Recuperar una carpeta borrada",
            "Ayer borré por error una carpeta de la unidad compartida.",
            "The folder is restored from last night's backup to its original place.",
            "La carpeta está restaurada desde la copia de anoche en su sitio original.",
            "What is the folder's name and where was it?",
            "¿Cómo se llama la carpeta y dónde estaba?",
        ),
        S(
            "Laptops working from home are not backed up",
            "Now that people work from home, are their laptops still backed up?",
            "¿Se hacen copias de los portátiles en casa?",
            "Ahora que la gente trabaja desde casa, ¿se siguen haciendo copias de sus portátiles?",
            "We moved the laptops to cloud backup, which works from any internet connection.",
            "Hemos pasado los portátiles a copia en la nube, que funciona desde cualquier "
            "conexión.",
            surge=True,
        ),
        S(
            "Restore an older version of a document",
            "I saved over an important Word document; can I get yesterday's version?",
            "Recuperar una versión anterior de un documento",
            "He sobrescrito un Word importante; ¿se puede recuperar la versión de ayer?",
            'Yesterday\'s version is restored next to the current one with "(restored)" in the '
            "name.",
            'La versión de ayer está restaurada junto a la actual con "(restaurado)" en el nombre.',
        ),
    ],
    "other": [
        S(
            "Quote for new computers",
            "We want to renew four computers at {site}; can you send a quote?",
            "Presupuesto de ordenadores nuevos",
            "Queremos renovar cuatro ordenadores en {site}; ¿nos enviáis presupuesto?",
            "The quote was sent by mail to {first}.",
            "El presupuesto se ha enviado por correo a {first}.",
            queue="projects",
        ),
        S(
            "Question about the monthly invoice",
            "The monthly invoice includes hours I do not recognise.",
            "Duda con la factura mensual",
            "La factura mensual incluye horas que no reconozco.",
            "I sent the detail of the time entries; they were the on-site visits of last month.",
            "Os he enviado el detalle de horas; son las visitas presenciales del mes pasado.",
        ),
        S(
            "Phone extension not working",
            "The extension at reception does not ring.",
            "No funciona la extensión del teléfono",
            "La extensión de recepción no suena.",
            "The desk phone had lost its registration; it rings again.",
            "El teléfono había perdido el registro; ya suena.",
        ),
        S(
            "Move an office to another floor",
            "We are moving the office at {site} to the second floor next month.",
            "Traslado de la oficina a otra planta",
            "El mes que viene trasladamos la oficina de {site} a la segunda planta.",
            "The move is planned: network points, printer and phones are ready on the second "
            "floor.",
            "El traslado está planificado: puntos de red, impresora y teléfonos listos en la "
            "segunda planta.",
            queue="projects",
        ),
    ],
}

# What technicians write besides the fix, in their own language for notes and in the
# contact's language for replies.
ACK = {
    "en": [
        "We are looking into it and will get back to you shortly.",
        "Thanks for letting us know. I am on it.",
        "I have taken this ticket and will connect to your computer in a few minutes.",
        "Received. We are on it; I will update you as soon as I know more.",
    ],
    "es": [
        "Lo estamos revisando y te respondemos en breve.",
        "Gracias por avisar. Me pongo con ello.",
        "Me he asignado la incidencia y me conecto a tu equipo en unos minutos.",
        "Recibido. Estamos en ello; te informo en cuanto sepa algo más.",
    ],
}
GENERIC_QUESTION = {
    "en": "Could you tell us since when this happens and send a screenshot of the error?",
    "es": "¿Nos puedes decir desde cuándo pasa y enviarnos una captura del error?",
}
CLIENT_ANSWER = {
    "en": [
        "Here is the information you asked for. It started yesterday afternoon.",
        "Sorry for the delay. Attached is the screenshot; it happens every time.",
        "Yes, that is right. You can connect now, I am at my desk.",
        "I checked with my colleagues: it only happens to me.",
    ],
    "es": [
        "Aquí tienes la información. Empezó ayer por la tarde.",
        "Perdona el retraso. Te adjunto la captura; pasa siempre.",
        "Sí, eso es. Puedes conectarte ahora, estoy en mi puesto.",
        "Lo he consultado con mis compañeros: solo me pasa a mí.",
    ],
}
STILL_BROKEN = {
    "en": "Sorry, it is happening again this morning.",
    "es": "Perdona, esta mañana vuelve a pasar.",
}
PHONE_ANSWER_NOTE = {
    "en": "The client answered by phone with the details; continuing.",
    "es": "El cliente ha respondido por teléfono con los datos; seguimos.",
}
NOTES = {
    "en": [
        "Checked the event log: nothing unusual before the incident.",
        "Connected remotely; reproduced the problem.",
        "Same issue seen at another client last week; same fix should apply.",
        "Documented the change in the client's runbook.",
        "Asked the user to keep the computer on tonight for updates.",
        "Possibly related to the home-working setup; keep an eye on similar tickets.",
    ],
    "es": [
        "Revisado el visor de eventos: nada raro antes de la incidencia.",
        "Conectado en remoto; reproduzco el problema.",
        "Mismo caso visto en otro cliente la semana pasada; debería valer la misma solución.",
        "Documentado el cambio en la ficha técnica del cliente.",
        "Pedido al usuario que deje el equipo encendido esta noche para actualizar.",
        "Posiblemente relacionado con el teletrabajo; vigilar incidencias parecidas.",
    ],
}
THIRD_PARTY_NOTE = {
    "en": [
        "Opened a case with the vendor; waiting for their answer.",
        "Reported to the internet provider; they send a technician.",
        "Warranty claim opened with the manufacturer; part on its way.",
    ],
    "es": [
        "Abierto caso con el fabricante; esperando respuesta.",
        "Avisado el operador de internet; envían un técnico.",
        "Abierta garantía con el fabricante; la pieza está en camino.",
    ],
}
THIRD_PARTY_DONE_NOTE = {
    "en": "The vendor answered; finishing the fix.",
    "es": "Ha respondido el proveedor; terminamos la solución.",
}
TIME_NOTES = {
    "en": [
        "Remote session",
        "Diagnosis and fix",
        "Configuration",
        "On-site visit",
        "Follow-up call",
    ],
    "es": [
        "Sesión remota",
        "Diagnóstico y solución",
        "Configuración",
        "Visita presencial",
        "Llamada de seguimiento",
    ],
}
DUPLICATE_NOTE = {
    "en": "Same problem as an open ticket of this client; merging.",
    "es": "Mismo problema que otra incidencia abierta de este cliente; la fusiono.",
}
LINK_NOTE = {
    "en": "Same outage affects another site of this client; linked the tickets.",
    "es": "La misma avería afecta a otra sede del cliente; incidencias enlazadas.",
}


def greet(language: str, first: str, text: str, signature: str) -> str:
    """A technician's message to a contact, in the contact's language."""
    if language == "es":
        return f"Hola, {first}:\n\n{text}\n\nUn saludo,\n{signature}"
    return f"Hi {first},\n\n{text}\n\nBest regards,\n{signature}"


def sign(language: str, first: str, text: str) -> str:
    """A contact's message, as it arrives from them."""
    if language == "es":
        return f"Hola:\n\n{text}\n\nGracias,\n{first}"
    return f"Hello,\n\n{text}\n\nThanks,\n{first}"
